"""MIMIC-CXR report sections as MGCA finds them (reader option ``sections: mgca``).

MGCA's ``mgca/preprocess/utils.py`` uses the MIMIC-CXR project's section splitter: a header is
an upper-case title after a newline and one space, followed by a colon and white space; the
text before the first header is the ``preamble``; a report without any header is one ``full
report`` section. Header names are lower-cased and normalised (misspellings, synonyms such as
"conclusion" -> impression, titles naming the views such as "chest, two views" -> findings);
an empty impression or findings section is dropped; a report with neither gets its last
paragraph as ``last_paragraph``. The text for pre-training is the *last* impression, a space,
the *last* findings, as MGCA's pre-training dataset joins them. The splitter's per-study
corrections (a list of hand-fixed study ids in the MIMIC-CXR code) are not reproduced.

Our default (``sections: ours``, :func:`benchmark.data.readers.mimic.report_sections`) takes any
upper-case title at a line start and joins repeated sections instead.
"""

from __future__ import annotations

import re

_HEADER = re.compile(r"\n ([A-Z ()/,-]+):\s", re.DOTALL)

#: header name (lower case) -> the section it is, by the normalisation MGCA's splitter applies
_NAMES = {
    "impression": ("impression", "conclusion", "findings and impression", "findings/impression", "findings/ impression",
                   "ndication", "impresson", "imprression", "imoression", "impressoin", "imprssion", "impresion",
                   "imperssion", "mpression", "impession"),
    "findings": ("findings", "chest, two views", "finding", "findins", "findindgs", "findgings", "findngs", "findnings",
                 "finidngs", "reference findings"),
    "comparison": ("comparison", "comparisons", "reference exam", "comparison exam", "comparison film", "comparision",
                   "comparsion", "comparrison", "comparisions"),
    "indication": ("indication", "reason for examination", "reason for exam", "clinical indication", "idication"),
    "history": ("history", "clinical history", "clinical information", "patient history", "pfi"),
    "examination": ("examination", "exam", "type of examination"),
    "recommendations": ("recommendations", "recommendation(s)", "recommendation"),
    "wet read": ("wet read", "wetread"),
}
_EXACT = {variant: name for name, variants in _NAMES.items() for variant in variants}
#: a name containing one of these is that section (checked in this order)
_CONTAINS = ("impression", "findings", "history", "comparison", "addendum")
#: a name describing the views or the body part is the findings
_VIEWS = re.compile("chest|portable|pa and lateral|lateral and pa|ap and lateral|lateral and ap|frontal and|two views|"
                    "frontal view|pa view|ap view|one view|lateral view|bone window|frontal upright|"
                    "frontal semi-upright|ribs|pa and lat")


def normalise_name(name: str) -> str:
    name = name.lower().strip()
    if name in _EXACT:
        return _EXACT[name]
    for main in _CONTAINS:
        if main in name:
            return main
    return "findings" if _VIEWS.search(name) else name


def split_sections(text: str) -> list[tuple[str, str]]:
    """(normalised name, raw body) of each section, in report order."""
    m = _HEADER.search(text)
    if m is None:
        return [("full report", text)]
    sections = [("preamble", text[:m.start(1)])]
    while m is not None:
        name, start = m.group(1), m.end()
        newline = text.find("\n", start)
        m = _HEADER.search(text, start + (newline - start if newline != -1 else 0))  # the next header starts a line below
        sections.append((normalise_name(name), text[start:m.start() if m else len(text)]))
    sections = [(n, b) for n, b in sections if not (n in ("impression", "findings") and not b.strip())]
    names = {n for n, _ in sections}
    if "impression" not in names and "findings" not in names and "\n \n" in sections[-1][1]:
        name, body = sections[-1]
        first, *rest = body.split("\n \n")
        sections[-1] = (name, first)
        sections.append(("last_paragraph", "\n \n".join(rest)))
    return sections


def mgca_report_text(text: str) -> str:
    """The last impression, then the last findings (whitespace normalised; "" when neither)."""
    last = {name: body for name, body in split_sections(text)}  # later sections overwrite earlier ones
    parts = [" ".join(last.get(name, "").split()) for name in ("impression", "findings")]
    return " ".join(p for p in parts if p)
