"""Every book/*.md chapter has an up-to-date, output-free, Colab-clean .ipynb copy (what Colab opens)."""
import json
import re
import shutil

import jupytext
import pytest

import colab_markdown
import pairing
import release


def test_every_chapter_has_a_synced_ipynb():
    problems = pairing.out_of_sync()
    assert not problems, "\n".join(problems)


def test_ipynb_copies_have_no_outputs():
    for md in pairing.markdown_sources():
        nb = json.loads(md.with_suffix(".ipynb").read_text())
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [], md.name


def test_no_myst_role_or_directive_is_left_in_a_notebook():
    left = []
    for md in pairing.markdown_sources():
        nb = json.loads(md.with_suffix(".ipynb").read_text())
        for i, cell in enumerate(nb["cells"]):
            if cell["cell_type"] == "markdown":
                left += [f"{md.with_suffix('.ipynb').name} cell {i}: {what}"
                         for what in colab_markdown.leftover_myst("".join(cell["source"]))]
    assert not left, "\n".join(left)


def test_the_check_sees_myst_that_colab_would_show_raw():
    found = colab_markdown.leftover_myst(
        "As {cite}`tarun2023deep` shows, see {eq}`bs-loss`.\n\n$$\nx\n$$ (bs-loss)\n\n"
        ":::{note}\nhi\n:::\n\n(a-target)=\n% a comment\n\n```text\n{cite}`inside-code-is-fine`\n```\n")
    kinds = sorted(item.split(":")[0] for item in found)
    assert kinds == ["comment", "directive", "labelled equation", "role", "role", "target"], found


def _page(md_name="book/06-blindspot.md"):
    md = pairing.ROOT / md_name
    text = md.read_text()
    return colab_markdown.Page(path=md, equations=colab_markdown.equation_numbers(text, md),
                               figures=colab_markdown.figure_numbers(text, md),
                               book_url=release.book_url(), files_url=release.files_url(),
                               root=pairing.ROOT)


def test_citations_become_author_year_links_from_the_bibliography():
    page = _page()
    text = colab_markdown.convert("Blindspot {cite}`tarun2023deep`; both {cite}`cao2015towards,gdpr2016`.", page)
    assert "([Tarun et al., 2023](https://proceedings.mlr.press/v202/tarun23a.html))" in text
    assert ("([Cao and Yang, 2015](https://doi.org/10.1109/SP.2015.35); "
            "[European Parliament and Council of the European Union, 2016]"
            "(https://eur-lex.europa.eu/eli/reg/2016/679/oj))") in text
    with pytest.raises(ValueError, match="nosuchkey2020"):
        colab_markdown.convert("{cite}`nosuchkey2020`", page)


def test_a_textual_citation_names_the_authors_once():
    page = _page()
    text = colab_markdown.convert("as {cite:t}`tarun2023deep` show, and {cite:t}`ghosh_pixelsecurer`", page)
    assert text == ("as [Tarun et al. (2023)](https://proceedings.mlr.press/v202/tarun23a.html) show, "
                    "and Ghosh and Dey (n.d.)")


# Cited works that have no address to link to, and why.
UNLINKABLE = {"ghosh_pixelsecurer": "unpublished presentation slides"}


def test_every_cited_work_is_linked_to_its_doi_or_address():
    cited = set()
    for md in pairing.ROOT.glob("book/**/*.md"):
        for match in colab_markdown.ROLE.finditer(md.read_text()):
            if match["name"].startswith("cite"):
                cited.update(key.strip() for key in match["body"].split(","))
    references = colab_markdown.references(pairing.ROOT / "book" / "references.bib")
    assert cited <= set(references), sorted(cited - set(references))
    unlinked = sorted(key for key in cited if references[key][2] is None and key not in UNLINKABLE)
    assert not unlinked, f"add a doi or url to these entries of book/references.bib: {unlinked}"


def _sentence_before(text: str, end: int) -> str:
    """The part of the sentence that precedes position ``end`` ("et al." ends no sentence)."""
    before = text[max(0, end - 160):end]
    stops = [m.end() for m in re.finditer(r"(?<!\bal)[.!?:;]\s|\n\n", before)]
    return before[stops[-1]:] if stops else before


def doubled_author_names(markdown: str, references: dict):
    """Each parenthetical citation "(..., Who, Year ...)" whose sentence already names Who
    before it ("Tarun et al. (Tarun et al., 2023)"): the authors are named twice."""
    found = []
    for who, year, _ in references.values():
        cited = re.compile(r"\[?" + re.escape(f"{who}, {year}"))
        for match in cited.finditer(markdown):
            opening = match.start()                 # the "(" that opens the citation, not a link's
            while opening > 0 and not (markdown[opening - 1] == "(" and markdown[opening - 2:opening - 1] != "]"):
                opening -= 1
            before = _sentence_before(markdown, max(opening - 1, 0))
            if re.search(re.escape(who) + r"(?![\w'’])", before):
                found.append(f"...{before.strip()[-60:]} ({who}, {year}...")
    return found


def test_the_doubled_name_check_finds_a_doubled_name():
    references = {"t": ("Tarun et al.", "2023", None), "w": ("Welch", "1947", "https://x")}
    assert doubled_author_names("the setting of Tarun et al. (Tarun et al., 2023).", references)
    assert doubled_author_names("see Tarun et al. ([Tarun et al., 2023](https://x)).", references)
    assert not doubled_author_names("Tarun et al. (2023) show it. Blindspot (Tarun et al., 2023).",
                                    references)
    assert not doubled_author_names("Welch's $t$ statistic ([Welch, 1947](https://x))", references)


def test_no_colab_copy_names_an_author_twice():
    references = colab_markdown.references(pairing.ROOT / "book" / "references.bib")
    doubled = []
    for md in pairing.markdown_sources():
        nb = json.loads(md.with_suffix(".ipynb").read_text())
        for i, cell in enumerate(nb["cells"]):
            if cell["cell_type"] == "markdown":
                doubled += [f"{md.with_suffix('.ipynb').name} cell {i}: {hit}"
                            for hit in doubled_author_names("".join(cell["source"]), references)]
    assert not doubled, "write {cite:t}`key` where the sentence names the authors:\n" + "\n".join(doubled)


def _source_figures(md):
    """[(code of the cell that draws it, caption)] of every captioned figure of a MyST page."""
    nb = jupytext.reads(md.read_text(), fmt="md:myst")
    figures = []
    for cell in nb.cells:
        figure = (cell.metadata.get("mystnb") or {}).get("figure") or {}
        if cell.cell_type == "code" and figure.get("caption"):
            figures.append((cell.source, figure["caption"].strip()))
    return figures


def test_every_figure_keeps_its_caption_under_it_in_the_colab_copy():
    total = 0
    for md in pairing.markdown_sources():
        ipynb = md.with_suffix(".ipynb")
        cells = json.loads(ipynb.read_text())["cells"]
        wanted = _source_figures(md)
        shown = [(i, "".join(c["source"])) for i, c in enumerate(cells)
                 if c["cell_type"] == "markdown" and pairing.CAPTION_TAG in c["metadata"].get("tags", [])]
        assert len(shown) == len(wanted), f"{ipynb.name}: {len(shown)} captions, {md.name} has {len(wanted)}"
        for (code, caption), (i, text) in zip(wanted, shown):
            assert "".join(cells[i - 1]["source"]) == code, f"{ipynb.name} cell {i}: not under its figure"
            assert re.match(r"\*\*Figure (\d+\.)?\d+\.\*\* ", text), f"{ipynb.name} cell {i}: {text[:40]!r}"
            if "{" not in caption:                          # no MyST role: the words as written
                assert text.endswith(" " + caption), f"{ipynb.name} cell {i}: caption differs from {md.name}"
        total += len(wanted)
    assert total >= 34                                      # every chapter's figures


def test_every_figure_the_text_names_has_its_caption_in_the_copy():
    missing = []
    for md in pairing.markdown_sources():
        cells = json.loads(md.with_suffix(".ipynb").read_text())["cells"]
        text = ["".join(c["source"]) for c in cells if c["cell_type"] == "markdown"]
        captioned = {m[1] for t in text for m in re.finditer(r"^\*\*Figure (\d+\.\d+)\.\*\*", t)}
        named = {m[1] for t in text for m in re.finditer(r"Figure (\d+\.\d+)", t)}
        missing += [f"{md.with_suffix('.ipynb').name}: Figure {n}" for n in sorted(named - captioned)]
    assert not missing, "\n".join(missing)


def test_the_word_equation_is_not_repeated_before_an_equation_number():
    page = _page()
    assert colab_markdown.convert("explain with equation {eq}`bs-lr`, or {eq}`bs-loss`", page) == (
        "explain with equation (6.2), or equation (6.1)")
    for md in pairing.markdown_sources():
        text = md.with_suffix(".ipynb").read_text()
        assert not re.search(r"\bequations? equation\b", text, re.I), md.with_suffix(".ipynb").name


def test_doc_links_point_at_the_published_page_with_its_title():
    text = colab_markdown.convert("See {doc}`02-mathematics` and {doc}`the data <03-agedb>`.", _page())
    base = release.book_url()
    assert f"[The mathematics of unlearning]({base}book/02-mathematics.html)" in text
    assert f"[the data]({base}book/03-agedb.html)" in text
    solutions = colab_markdown.convert("{doc}`../02-mathematics`", _page("book/assignments/unlearning-assignment.md"))
    assert solutions.endswith(f"({base}book/02-mathematics.html)")


def test_equations_are_numbered_per_chapter_and_referenced_as_equation_n():
    page = _page()                  # chapter 6: numbered as the HTML book numbers them, 6.n
    assert page.equations["bs-loss"] == "6.1" and page.equations["bs-lattn"] == "6.5"
    text = colab_markdown.convert("$$\nL = a\n$$ (bs-lr)\n\nso {eq}`bs-lr` holds", page)
    assert text == "$$\nL = a \\tag{6.2}\n$$\n\nso equation (6.2) holds"
    with pytest.raises(ValueError, match="w1-cdf"):
        colab_markdown.convert("{eq}`w1-cdf`", page)           # a label of another chapter


def test_figure_references_read_figure_chapter_dot_n():
    page = _page("book/08-results.md")
    first = next(iter(page.figures))
    assert page.figures[first] == "8.1"
    assert colab_markdown.convert(f"see {{numref}}`{first}`", page) == "see Figure 8.1"
    with pytest.raises(ValueError, match="fig-nowhere"):
        colab_markdown.convert("{numref}`fig-nowhere`", page)


def test_directives_become_plain_markdown_and_unknown_ones_are_refused():
    page = _page()
    text = colab_markdown.convert("```{warning}\nSynthetic data {cite}`tarun2023deep`.\n```\n\n"
                                  ":::{admonition} Why L1?\n:class: tip\nIt is robust.\n:::", page)
    assert text == ("> **Warning**\n>\n> Synthetic data ([Tarun et al., 2023]"
                    "(https://proceedings.mlr.press/v202/tarun23a.html)).\n\n"
                    "> **Why L1?**\n>\n> It is robust.")
    assert not colab_markdown.leftover_myst(text)
    code = "```python\nx = {doc}`not-a-role-in-code`\n```"
    assert colab_markdown.convert(code, page) == code
    figure = colab_markdown.convert("```{figure} ../README.md\n:alt: x\nThe caption.\n```", page)
    assert figure == f"![x]({release.files_url()}README.md)\n\nThe caption."
    with pytest.raises(ValueError, match=r"book/06-blindspot.md: directive \{tabbed\}"):
        colab_markdown.convert("```{tabbed} A\nx\n```", page)


def _copy_repository_bits(tmp_path):
    for name in ("_config.yml", "CITATION.cff", "book/references.bib", "pixelsecurer_lib/__init__.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(pairing.ROOT / name, tmp_path / name)


def test_a_changed_source_is_detected(tmp_path, monkeypatch):
    _copy_repository_bits(tmp_path)
    book = tmp_path / "book"
    src = pairing.markdown_sources()[0]
    for path in (src, src.with_suffix(".ipynb")):
        (book / path.name).write_text(path.read_text())
    monkeypatch.setattr(pairing, "ROOT", tmp_path)
    assert pairing.out_of_sync() == []
    (book / src.name).write_text(src.read_text() + "\n```{code-cell} ipython3\nprint(1)\n```\n")
    assert pairing.out_of_sync(), "an edited .md must be reported as out of sync"


def test_a_new_version_or_address_makes_every_install_cell_stale(tmp_path, monkeypatch):
    _copy_repository_bits(tmp_path)
    src = pairing.markdown_sources()[0]
    (tmp_path / "book" / src.name).write_text(src.read_text())
    (tmp_path / "book" / src.with_suffix(".ipynb").name).write_text(src.with_suffix(".ipynb").read_text())
    monkeypatch.setattr(pairing, "ROOT", tmp_path)
    config = tmp_path / "_config.yml"
    config.write_text(config.read_text().replace("https://github.com/pixelsecurer/pixelsecurer",
                                                 "https://github.com/a-fork/pixelsecurer"))
    stale = pairing.out_of_sync()
    assert any("first cell differs" in line for line in stale), stale
    assert any("CITATION.cff" in line for line in stale), stale
    pairing.write_all()
    assert pairing.out_of_sync() == []
    text = (tmp_path / "book" / src.name).read_text()
    assert '"pixelsecurer @ git+https://github.com/a-fork/pixelsecurer@v0.1.0"' in text
    assert "git+https://github.com/a-fork/pixelsecurer@v0.1.0" in (tmp_path / "book" / src.with_suffix(".ipynb").name).read_text()
    assert release.book_url(tmp_path) == "https://a-fork.github.io/pixelsecurer/"
