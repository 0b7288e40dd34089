"""Regenerate docs/bad_inputs.md from the two corpora: ``python tests/bad_inputs_doc.py``.

The tests compare the file with ``doc_table()`` of both corpus modules, so the documentation
cannot drift from what is tested.
"""

from pathlib import Path

import test_bad_inputs
import test_bad_inputs_stages

DOC = Path(__file__).resolve().parents[1] / "docs" / "bad_inputs.md"
READERS_HEADING = "## Raw datasets (`python -m benchmark.prepare`)"
STAGES_HEADING = "## Every other stage"


def render() -> str:
    text = DOC.read_text()
    intro = text.split(READERS_HEADING)[0].split("| case | reader | outcome |")[0].rstrip()
    total = len(test_bad_inputs.CASES) + len(test_bad_inputs_stages.CASES)
    intro = intro.replace(intro[intro.index("holds a corpus of"):intro.index(" broken")],
                          f"holds a corpus of {len(test_bad_inputs.CASES)}") if "holds a corpus of" in intro else intro
    stages_doc = (test_bad_inputs_stages.__doc__ or "").strip().split("\n\n", 1)[-1]
    return (f"{intro}\n\n{READERS_HEADING}\n\n{test_bad_inputs.doc_table()}\n{STAGES_HEADING}\n\n"
            f"{len(test_bad_inputs_stages.CASES)} more cases (`tests/test_bad_inputs_stages.py`; {total} in all). "
            f"{stages_doc}\n\n{test_bad_inputs_stages.doc_table()}")


if __name__ == "__main__":
    DOC.write_text(render())
    print(f"wrote {DOC}")
