"""Every book/*.md chapter has an up-to-date, output-free .ipynb copy (what Colab opens)."""
import json

import pairing


def test_every_chapter_has_a_synced_ipynb():
    problems = pairing.out_of_sync()
    assert not problems, "\n".join(problems)


def test_ipynb_copies_have_no_outputs():
    for md in pairing.markdown_sources():
        nb = json.loads(md.with_suffix(".ipynb").read_text())
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [], md.name


def test_a_changed_source_is_detected(tmp_path, monkeypatch):
    book = tmp_path / "book"
    book.mkdir()
    src = pairing.markdown_sources()[0]
    (book / src.name).write_text(src.read_text())
    (book / src.with_suffix(".ipynb").name).write_text(src.with_suffix(".ipynb").read_text())
    monkeypatch.setattr(pairing, "ROOT", tmp_path)
    assert pairing.out_of_sync() == []
    (book / src.name).write_text(src.read_text() + "\n```{code-cell} ipython3\nprint(1)\n```\n")
    assert pairing.out_of_sync(), "an edited .md must be reported as out of sync"
