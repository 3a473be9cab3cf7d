"""MyST Markdown -> the plain Markdown Colab shows (used by `make sync` for book/*.ipynb).

The .md chapters stay the source and keep their MyST; the Colab copies get:

- ``{cite}`a,b``` -> "([Author et al., 2023](https://doi.org/...); ...)": author surname(s) and
  year from book/references.bib, linked to the DOI or URL when the entry has one;
  ``{cite:t}`a``` (the authors are the subject of the sentence) -> "[Author et al. (2023)](...)",
  as the HTML book writes "Author et al. [2023]";
- ``{doc}`02-mathematics``` -> "[the page's title](https://.../book/02-mathematics.html)": the
  published HTML page (an absolute address works wherever the notebook was opened from:
  GitHub, Drive, an upload; relative .ipynb links break as soon as the file leaves the
  repository), the address coming from tools/release.py;
- ``{eq}`label``` -> "equation (n)" (just "(n)" after the word "equation"), labelled equations ``$$ ... $$ (label)`` get ``\\tag{n}``,
  numbered per chapter in the order they appear (as the HTML book numbers them);
- a code cell that draws a figure (``mystnb.figure`` in its metadata: name and caption) is
  followed in the Colab copy by a Markdown cell with the caption, "**Figure 3.1.** ...", since
  Colab shows no cell metadata (``figure_caption``);
- directives (admonitions, figure, image, math) -> blockquotes, images and $$ blocks; an image
  of the repository is linked at the release's tag (raw.githubusercontent.com), since a
  notebook opened alone has no files beside it.

Anything else MyST-only raises ValueError naming the file and the construct, so that nothing
is shown raw in Colab; ``leftover_myst`` finds what a notebook still has.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

ROLE = re.compile(r"\{(?P<name>[A-Za-z][\w:+-]*)\}`(?P<body>[^`]*)`")
ROLE_OR_CODE = re.compile(ROLE.pattern + r"|``.+?``|`[^`\n]+`")
LABELLED_MATH = re.compile(r"\$\$(?P<body>(?:(?!\$\$).)*?)\$\$[ \t]*\((?P<label>[\w:.-]+)\)[ \t]*$",
                           re.S | re.M)
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,}|:{3,})(?P<rest>.*)$")
DIRECTIVE = re.compile(r"^\{(?P<name>[\w:-]+)\}\s*(?P<args>.*)$")
TARGET = re.compile(r"^\([\w:.-]+\)=\s*$")
ADMONITIONS = {"note": "Note", "tip": "Tip", "hint": "Hint", "important": "Important",
               "warning": "Warning", "caution": "Caution", "attention": "Attention",
               "danger": "Danger", "error": "Error", "seealso": "See also"}


@dataclass(frozen=True)
class Page:
    """What converting one chapter needs: where it is and its equation numbers."""
    path: Path
    equations: dict
    book_url: str
    figures: dict = field(default_factory=dict)
    files_url: str = ""          # raw files of the release: images that a figure shows
    root: Path = ROOT

    @property
    def where(self) -> str:
        try:
            return str(self.path.relative_to(self.root))
        except ValueError:
            return str(self.path)


def _chapter_prefix(path: Path) -> str:
    """"8." for book/08-results.md (the book numbers figures and equations per chapter, as
    "Figure 8.2" and "(8.3)"); "" for an unnumbered page such as the introduction."""
    digits = re.match(r"(\d+)-", Path(path).name)
    return f"{int(digits[1])}." if digits else ""


def equation_numbers(text: str, path: Path = Path("page.md")) -> dict:
    """{label: "8.n"} for the labelled equations of one chapter, in order of appearance."""
    numbers = {}
    for match in LABELLED_MATH.finditer(_outside_code(text)):
        numbers.setdefault(match["label"], f"{_chapter_prefix(path)}{len(numbers) + 1}")
    return numbers


FIGURE_NAME = re.compile(r"^\s*(?::name:|name:)\s*(?P<name>fig-[\w-]+)\s*$", re.MULTILINE)


def figure_numbers(text: str, path: Path = Path("page.md")) -> dict:
    """{name: "8.n"} for the named figures of one chapter (a code cell's ``mystnb.figure.name``
    or a figure directive's ``:name:``), in order of appearance, as the HTML book numbers them."""
    numbers = {}
    for match in FIGURE_NAME.finditer(text):
        numbers.setdefault(match["name"], f"{_chapter_prefix(path)}{len(numbers) + 1}")
    return numbers


def figure_caption(metadata: dict, page: Page):
    """The Markdown that captions a code cell's figure in Colab, "**Figure 3.1.** The caption.",
    from the cell's ``mystnb.figure`` metadata; None when the cell declares no figure caption."""
    figure = ((metadata or {}).get("mystnb") or {}).get("figure") or {}
    caption = str(figure.get("caption") or "").strip()
    if not caption:
        return None
    name = figure.get("name")
    number = page.figures.get(name) if name else None
    if name and number is None:
        raise ValueError(f"{page.where}: figure {name} has a caption but no number")
    text = convert(caption, page).strip()
    return f"**Figure {number}.** {text}" if number else f"**Figure.** {text}"


def _outside_code(text: str) -> str:
    """``text`` with the lines of code blocks (plain fences, code cells) blanked.

    Directive fences (```{note}, :::{figure}) are kept, with their contents.
    """
    out, stack = [], []                       # the open fences: (fence, holds code)
    for line in text.split("\n"):
        match = FENCE.match(line)
        in_code = any(code for _, code in stack)
        if match and stack and not match["rest"].strip() and _closes(match["fence"], stack[-1][0]):
            stack.pop()
            out.append("" if in_code else line)
        elif match and not in_code:
            rest = match["rest"].strip()
            code = not rest.startswith("{") or rest.startswith("{code-cell}")
            stack.append((match["fence"], code))
            out.append("" if code else line)
        else:
            out.append("" if in_code else line)
    return "\n".join(out)


def _closes(fence: str, opened: str) -> bool:
    return fence[0] == opened[0] and len(fence) >= len(opened)


# --- citations -------------------------------------------------------------------------------

def _plain(latex: str) -> str:
    from pybtex.richtext import Text

    return Text.from_latex(latex).render_as("text").strip()


@functools.lru_cache(maxsize=4)
def bibliography(bib_path: Path) -> dict:
    """{key: (author-year label, link or None)} from a BibTeX file."""
    return {key: (f"{who}, {year}", link) for key, (who, year, link) in references(bib_path).items()}


@functools.lru_cache(maxsize=4)
def references(bib_path: Path) -> dict:
    """{key: (authors as the text names them, year, link or None)} from a BibTeX file:
    "Tarun et al.", "Cao and Yang" or "Welch"; the link is the DOI's address, else the URL."""
    from pybtex.database import parse_file

    entries = {}
    for key, entry in parse_file(str(bib_path)).entries.items():
        people = entry.persons.get("author") or entry.persons.get("editor") or []
        surnames = [_plain(" ".join(p.prelast_names + p.last_names)) for p in people]
        if not surnames or "year" not in entry.fields:
            raise ValueError(f"{bib_path}: entry {key} needs an author and a year to be cited")
        if len(surnames) == 1:
            who = surnames[0]
        elif len(surnames) == 2:
            who = f"{surnames[0]} and {surnames[1]}"
        else:
            who = f"{surnames[0]} et al."
        link = None
        if entry.fields.get("doi"):
            link = "https://doi.org/" + entry.fields["doi"].strip()
        elif entry.fields.get("url"):
            link = entry.fields["url"].strip()
        entries[key] = (who, entry.fields["year"].strip(), link)
    return entries


def cite(keys: str, page: Page, textual: bool = False) -> str:
    """A parenthetical citation "(Tarun et al., 2023)", or with ``textual`` (``{cite:t}``) one
    that names the authors in the sentence: "Tarun et al. (2023)"; each linked when it can be."""
    bib = references(page.root / "book" / "references.bib")
    parts = []
    for key in (k.strip() for k in keys.split(",")):
        if key not in bib:
            raise ValueError(f"{page.where}: {{cite}}`{key}` is not in book/references.bib")
        who, year, link = bib[key]
        if textual:
            parts.append(f"[{who} ({year})]({link})" if link else f"{who} ({year})")
        else:
            parts.append(f"[{who}, {year}]({link})" if link else f"{who}, {year}")
    return "; ".join(parts) if textual else "(" + "; ".join(parts) + ")"


# --- links to other pages --------------------------------------------------------------------

@functools.lru_cache(maxsize=64)
def page_title(md: Path) -> str:
    for line in md.read_text().split("\n"):
        if line.startswith("# "):
            return line[2:].strip()
    raise ValueError(f"{md}: no '# title' line to name the page by")


def doc_link(body: str, page: Page) -> str:
    match = re.fullmatch(r"(?P<text>.*?)\s*<(?P<target>[^>]+)>", body.strip())
    text, target = (match["text"], match["target"]) if match else (None, body.strip())
    if target.startswith("/"):
        md = page.root / (target.lstrip("/") + ".md")
    else:
        md = (page.path.parent / (target + ".md")).resolve()
    if not md.exists():
        raise ValueError(f"{page.where}: {{doc}}`{body}` names no page ({md} does not exist)")
    docname = md.relative_to(page.root.resolve()).with_suffix("").as_posix()
    return f"[{text or page_title(md)}]({page.book_url}{docname}.html)"


# --- equations -------------------------------------------------------------------------------

def eq_reference(label: str, page: Page, after_the_word: bool = False) -> str:
    """"equation (8.1)"; only "(8.1)" where the text already says "equation" before the role."""
    if label not in page.equations:
        raise ValueError(f"{page.where}: {{eq}}`{label}` names no labelled equation of this page")
    number = f"({page.equations[label]})"
    return number if after_the_word else f"equation {number}"


_THE_WORD_EQUATION = re.compile(r"\b[Ee]quations?\s+$")


def _tag_equation(match: re.Match, page: Page) -> str:
    body = match["body"]
    stripped = body.rstrip()
    return f"$${stripped} \\tag{{{page.equations[match['label']]}}}{body[len(stripped):]}$$"


# --- directives ------------------------------------------------------------------------------

def _split_options(lines):
    options, i = {}, 0
    while i < len(lines) and re.match(r"^\s*:[\w-]+:", lines[i]):
        name, _, value = lines[i].strip()[1:].partition(":")
        options[name] = value.strip()
        i += 1
    if i < len(lines) and not lines[i].strip():
        i += 1
    return options, lines[i:]


def directive(name: str, args: str, body_lines, page: Page) -> str:
    options, body_lines = _split_options(body_lines)
    body = convert("\n".join(body_lines), page).strip("\n")
    if name in ADMONITIONS or name == "admonition":
        title = args.strip() or ADMONITIONS.get(name, "Note")
        quoted = [f"> **{inline(title, page)}**", ">"] + [f"> {l}".rstrip() for l in body.split("\n")]
        return "\n".join(quoted)
    if name in ("figure", "image"):
        alt = options.get("alt") or body.split("\n")[0] or "figure"
        picture = f"![{alt}]({_asset_url(args.strip(), page)})"
        return picture + ("\n\n" + body if name == "figure" and body else "")
    if name == "math":
        return f"$$\n{body}\n$$"
    raise ValueError(f"{page.where}: directive {{{name}}} has no plain-Markdown form for Colab; "
                     "write it as Markdown or teach tools/colab_markdown.py")


def _asset_url(src: str, page: Page) -> str:
    if re.match(r"^[a-z]+://", src):
        return src
    path = (page.path.parent / src).resolve()
    if not path.exists():
        raise ValueError(f"{page.where}: image {src} does not exist")
    if not page.files_url:
        raise ValueError(f"{page.where}: image {src} needs an address, and the repository is "
                         "not on github.com: link the image by its full URL")
    return page.files_url + path.relative_to(page.root.resolve()).as_posix()


# --- the conversion --------------------------------------------------------------------------

def inline(text: str, page: Page) -> str:
    """Replace the MyST roles of a piece of Markdown (no code blocks in it)."""
    def role(match):
        name, body = match["name"], match["body"]
        if name in ("cite", "cite:p"):
            return cite(body, page)
        if name == "cite:t":
            return cite(body, page, textual=True)
        if name == "doc":
            return doc_link(body, page)
        if name == "eq":
            before = match.string[max(0, match.start() - 20):match.start()]
            return eq_reference(body.strip(), page, bool(_THE_WORD_EQUATION.search(before)))
        if name == "numref":
            label = body.strip()
            if label not in page.figures:
                raise ValueError(f"{page.where}: {{numref}}`{label}` names no figure of this page")
            return f"Figure {page.figures[label]}"
        if name == "math":
            return f"${body}$"
        raise ValueError(f"{page.where}: role {{{name}}} has no plain-Markdown form for Colab")

    def piece(match):
        return role(match) if match["name"] else match[0]      # code spans stay as they are

    return ROLE_OR_CODE.sub(piece, text)


def convert(text: str, page: Page) -> str:
    """Plain Markdown for one Markdown cell of ``page``."""
    lines, out, i = text.split("\n"), [], 0
    prose = []

    def flush():
        if prose:
            chunk = LABELLED_MATH.sub(lambda m: _tag_equation(m, page), "\n".join(prose))
            out.append(inline(chunk, page))
            prose.clear()

    while i < len(lines):
        line = lines[i]
        match = FENCE.match(line)
        if TARGET.match(line):
            i += 1
            continue
        if re.match(r"^%( |$)", line):          # a MyST comment
            i += 1
            continue
        if match is None:
            prose.append(line)
            i += 1
            continue
        flush()
        fence = match["fence"]
        end = i + 1
        while end < len(lines):
            close = FENCE.match(lines[end])
            if close and _closes(close["fence"], fence) and not close["rest"].strip():
                break
            end += 1
        if end == len(lines):
            raise ValueError(f"{page.where}: a block opened with {fence} is never closed")
        head = DIRECTIVE.match(match["rest"].strip())
        if head:
            out.append(directive(head["name"], head["args"], lines[i + 1:end], page))
        else:
            out.extend(lines[i:end + 1])           # plain code: left as it is
        i = end + 1
    flush()
    return "\n".join(out)


def leftover_myst(markdown: str):
    """The MyST-only constructs still in a piece of Markdown (empty list when it is plain)."""
    found = []
    plain = _outside_code(markdown)
    for line in plain.split("\n"):
        match = FENCE.match(line)
        if match and match["rest"].strip().startswith("{"):
            found.append(f"directive: {line.strip()}")
        if TARGET.match(line):
            found.append(f"target: {line.strip()}")
        if re.match(r"^%( |$)", line):
            found.append(f"comment: {line.strip()}")
    for match in ROLE.finditer(plain):
        found.append(f"role: {match[0]}")
    for match in LABELLED_MATH.finditer(plain):
        found.append(f"labelled equation: ({match['label']})")
    return found
