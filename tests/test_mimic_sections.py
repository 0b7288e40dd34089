"""MGCA's MIMIC-CXR section splitter (reader option ``sections: mgca``) on hand-written reports in
MIMIC's layout (a leading space on every line), beside ours where the two differ."""

from benchmark.data.readers.mimic import report_text
from benchmark.data.readers.mimic_sections import mgca_report_text, normalise_name, split_sections

STANDARD = ("                                 FINAL REPORT\n EXAMINATION:  CHEST (PA AND LAT)\n \n"
            " INDICATION:  Chest pain.\n \n FINDINGS:\n The heart size is normal.\n Lungs are clear.\n \n"
            " IMPRESSION:\n No acute process.\n")


def test_a_standard_report_gives_impression_then_findings_as_ours_does():
    names = [n for n, _ in split_sections(STANDARD)]
    assert names == ["preamble", "examination", "indication", "findings", "impression"]
    assert mgca_report_text(STANDARD) == "No acute process. The heart size is normal. Lungs are clear."
    assert report_text(STANDARD) == mgca_report_text(STANDARD)


def test_names_are_normalised_as_the_mimic_splitter_does():
    assert normalise_name("IMPRESSON") == "impression"  # a misspelling in the table
    assert normalise_name("CONCLUSION") == "impression"
    assert normalise_name("FINDINGS AND IMPRESSION") == "impression"
    assert normalise_name("CHEST, PA AND LATERAL") == "findings"  # names the views
    assert normalise_name("PORTABLE AP CHEST") == "findings"
    assert normalise_name("CLINICAL HISTORY") == "history" and normalise_name("REASON FOR EXAM") == "indication"
    assert normalise_name("ADDENDUM TO REPORT") == "addendum"  # contains a main section name
    assert normalise_name("TECHNIQUE") == "technique"  # unknown names stay as they are
    report = "\n CONCLUSION:\n Small effusion.\n \n CHEST, TWO VIEWS:\n Blunted angle.\n"
    assert mgca_report_text(report) == "Small effusion. Blunted angle."
    assert report_text(report) == ""  # ours knows only IMPRESSION and FINDINGS by name


def test_the_last_section_of_a_name_counts_and_empty_ones_are_dropped():
    report = ("\n IMPRESSION:\n First reading.\n \n FINDINGS:\n \n \n FINDINGS:\n Clear lungs.\n \n"
              " IMPRESSION:\n Final reading.\n")
    assert [n for n, _ in split_sections(report)] == ["preamble", "impression", "findings", "impression"]
    assert mgca_report_text(report) == "Final reading. Clear lungs."
    assert report_text(report) == "First reading. Final reading. Clear lungs."  # ours joins repeated sections


def test_a_header_must_follow_a_newline_and_a_space():
    report = "\nIMPRESSION: no space before the header.\n \n FINDINGS:\n Clear.\n"
    assert mgca_report_text(report) == "Clear."


def test_without_impression_or_findings_there_is_no_text_only_a_last_paragraph():
    report = "\n INDICATION:  Cough.\n \n Heart normal.\n \n Lungs clear.\n"
    sections = split_sections(report)
    assert [n for n, _ in sections] == ["preamble", "indication", "last_paragraph"]
    assert sections[-1][1] == " Heart normal.\n \n Lungs clear.\n"
    assert mgca_report_text(report) == ""  # MGCA drops such studies, as our reader does (counted as skipped)
    assert split_sections("No header at all.") == [("full report", "No header at all.")]
