"""The release a chapter installs, and the first cell that installs it (`make sync` writes it).

Two facts live in one place each: the version in ``pixelsecurer_lib/__init__.py``
(``__version__``, which pyproject.toml reads) and the repository address in ``_config.yml``
(``repository.url``). From them come the tag ``v{version}``, the pip requirement every chapter's
first cell installs in Colab, the address of the published book (GitHub Pages of that
repository unless ``html.baseurl`` says otherwise) and the version fields of CITATION.cff.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path
from urllib.parse import urlparse

import yaml

ROOT = Path(__file__).resolve().parents[1]
DRIVE_CACHE = "/content/drive/MyDrive/pixelsecurer"
FIRST_LINE = "# Make this page runnable on its own: in Colab, install the library first."
SETUP_CALL = re.compile(r"^ctx = psl\.setup_chapter\((?P<args>.*)\)(?P<comment>\s*#.*)?$")


def version(root: Path = None) -> str:
    """``__version__`` of pixelsecurer_lib, read without importing the package."""
    path = (root or ROOT) / "pixelsecurer_lib" / "__init__.py"
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__version__"
                                                for t in node.targets):
            value = ast.literal_eval(node.value)
            if not re.fullmatch(r"\d+\.\d+\.\d+([a-z]+\d+)?", value):
                raise ValueError(f"{path}: __version__ = {value!r} is not a release number like 0.1.0")
            return value
    raise ValueError(f"{path}: no __version__ = '...' line")


def book_config(root: Path = None) -> dict:
    path = (root or ROOT) / "_config.yml"
    return yaml.safe_load(path.read_text())


def repository_url(root: Path = None) -> str:
    """``repository.url`` of _config.yml, without a trailing slash or ``.git``."""
    url = str((book_config(root).get("repository") or {}).get("url") or "").strip()
    parsed = urlparse(url)
    if parsed.scheme != "https" or not parsed.netloc or parsed.path.strip("/").count("/") != 1:
        raise ValueError(f"_config.yml: repository.url {url!r} is not an address like "
                         "https://github.com/OWNER/NAME")
    return url.rstrip("/").removesuffix(".git")


def tag(root: Path = None) -> str:
    return f"v{version(root)}"


def requirement(root: Path = None) -> str:
    """What pip installs in Colab: the library at this release's tag."""
    return f"pixelsecurer @ git+{repository_url(root)}@{tag(root)}"


def book_url(root: Path = None) -> str:
    """Address of the published HTML book, ending in '/'.

    ``html.baseurl`` of _config.yml when set; otherwise the GitHub Pages address of the
    repository (https://OWNER.github.io/NAME/), so that a fork needs only its repository.url.
    """
    base = str((book_config(root).get("html") or {}).get("baseurl") or "").strip()
    if base:
        return base.rstrip("/") + "/"
    url = urlparse(repository_url(root))
    owner, name = url.path.strip("/").split("/")
    if url.netloc.lower() != "github.com":
        raise ValueError(f"_config.yml: repository.url {repository_url(root)!r} is not on "
                         "github.com; set html.baseurl to the address of the published book")
    return f"https://{owner.lower()}.github.io/{name}/"


def files_url(root: Path = None) -> str:
    """Where the files of this release are served raw (images of the Colab copies), ending in
    '/'; empty when the repository is not on GitHub."""
    url = urlparse(repository_url(root))
    if url.netloc.lower() != "github.com":
        return ""
    return f"https://raw.githubusercontent.com{url.path}/{tag(root)}/"


def install_cell_head(root: Path = None) -> str:
    """The lines of every chapter's first cell that install the pinned release in Colab.

    pip's output is captured and shown only when it fails, followed by one line that says
    what to check (instead of a bare CalledProcessError).
    """
    req, release, repo = requirement(root), tag(root), repository_url(root)
    return "\n".join([
        FIRST_LINE,
        "import subprocess, sys",
        'if "google.colab" in sys.modules:',
        f'    PIXELSECURER = "{req}"',
        '    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", PIXELSECURER],',
        "                         capture_output=True, text=True)",
        "    if pip.returncode != 0:",
        "        print(pip.stdout, pip.stderr, sep=\"\\n\", file=sys.stderr)",
        '        raise RuntimeError("pip could not install the library (its message is above). Check "',
        f'                           "that this runtime is online and that tag {release} exists at "',
        f'                           "{repo}, then run this cell again.")',
        "",
        "import pixelsecurer_lib as psl",
    ])


def colab_setup_lines(setup_args: str) -> str:
    """The commented line (and its explanation) that keeps the cache on Drive and picks the profile."""
    return "\n".join([
        "# In Colab: keep trained models on Google Drive (they survive a reset) and choose the profile",
        '# ("paper" with a GPU runtime): uncomment the next line and delete the one after it.',
        '# from google.colab import drive; drive.mount("/content/drive"); '
        f'ctx = psl.setup_chapter({setup_args}, profile="cpu", cache="{DRIVE_CACHE}")',
    ])


def first_cell(source: str, root: Path = None, where: str = "cell") -> str:
    """``source`` (a chapter's first code cell) with its generated lines written afresh.

    Everything before the ``ctx = psl.setup_chapter(...)`` line is generated; that line and
    what follows it belong to the chapter.
    """
    lines = source.split("\n")
    for i, line in enumerate(lines):
        match = SETUP_CALL.match(line)
        if match:
            head = install_cell_head(root) + "\n" + colab_setup_lines(match["args"])
            return "\n".join([head] + lines[i:])
    raise ValueError(f"{where}: first code cell has no line 'ctx = psl.setup_chapter(...)'")


CODE_CELL = re.compile(r"(```\{code-cell\}[^\n]*\n)(.*?)(\n```)", re.S)


def synced_markdown(text: str, root: Path = None, where: str = "chapter") -> str:
    """A MyST chapter whose first code cell carries the generated install and Colab lines."""
    match = CODE_CELL.search(text)
    if match is None:
        return text
    body = first_cell(match[2], root, where)
    return text[:match.start(2)] + body + text[match.end(2):]


def installing_sources(root: Path = None):
    """Every MyST page with a first cell that installs the library (chapters, solutions).

    The assignment masters are left out: their first cell installs the ``[course]`` extra and
    sets the hand-in profile, and course/assign.py writes the book's page from them."""
    root = root or ROOT
    pages = sorted(root.glob("book/**/*.md"))
    return [p for p in pages if "_build" not in p.parts and "masters" not in p.parts
            and FIRST_LINE.split(":")[0] in p.read_text()
            and "course/assign.py book-page" not in p.read_text()]   # written from a master


def synced_citation(text: str, root: Path = None) -> str:
    """CITATION.cff with its ``version`` and ``repository-code`` taken from the two sources."""
    text = re.sub(r"(?m)^version: .*$", f'version: "{version(root)}"', text)
    return re.sub(r"(?m)^repository-code: .*$", f'repository-code: "{repository_url(root)}"', text)


def out_of_sync(root: Path = None):
    root = root or ROOT
    bad = []
    for md in installing_sources(root):
        rel = md.relative_to(root)
        if md.read_text() != synced_markdown(md.read_text(), root, str(rel)):
            bad.append(f"{rel}: first cell differs from the generated install cell (run `make sync`)")
    cff = root / "CITATION.cff"
    if cff.read_text() != synced_citation(cff.read_text(), root):
        bad.append("CITATION.cff: version or repository-code differs (run `make sync`)")
    return bad


def _replace(path: Path, text: str):
    if path.read_text() != text:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text)
        tmp.replace(path)


def write_all(root: Path = None):
    root = root or ROOT
    for md in installing_sources(root):
        _replace(md, synced_markdown(md.read_text(), root, str(md.relative_to(root))))
    cff = root / "CITATION.cff"
    _replace(cff, synced_citation(cff.read_text(), root))
