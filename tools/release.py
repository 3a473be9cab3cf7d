"""The release a chapter installs, and the first cell that installs it (`make sync` writes it).

Two facts live in one place each: the version in ``pixelsecurer_lib/__init__.py``
(``__version__``, which pyproject.toml reads) and the repository address in ``_config.yml``
(``repository.url``). From them come the tag ``v{version}``, the pip requirement every chapter's
first cell installs in Colab, the branch the book's Colab buttons open (``repository.branch``
of _config.yml, set to the tag: the notebook of the release, beside its library), the address
of the published book (GitHub Pages of that repository unless ``html.baseurl`` says otherwise)
and the version fields of CITATION.cff.

    python tools/release.py check-tag v0.2.0   # exit 2, one line, unless the tag is v{version}
                                               # and every generated file is in step with it
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


def install_lines(root: Path = None) -> str:
    """The lines of every chapter's first cell that install the pinned release in Colab.

    pip runs only in Colab and only when the installed ``pixelsecurer`` is not this release
    (running the cell again costs nothing); its output is captured and shown only when it fails,
    followed by one line that says what to check (instead of a bare CalledProcessError).
    """
    req, release, repo = requirement(root), tag(root), repository_url(root)
    return "\n".join([
        FIRST_LINE,
        "import importlib.metadata, subprocess, sys",
        f'PIXELSECURER = "{req}"',
        "try:",
        '    installed = importlib.metadata.version("pixelsecurer")',
        "except importlib.metadata.PackageNotFoundError:",
        "    installed = None",
        f'if "google.colab" in sys.modules and installed != "{version(root)}":',
        '    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", PIXELSECURER],',
        "                         capture_output=True, text=True)",
        "    if pip.returncode != 0:",
        "        print(pip.stdout, pip.stderr, sep=\"\\n\", file=sys.stderr)",
        '        raise RuntimeError("pip could not install the library (its message is above). Check "',
        f'                           "that this runtime is online and that tag {release} exists at "',
        f'                           "{repo}, then run this cell again.")',
    ])


def import_lines() -> str:
    """``import pixelsecurer_lib as psl``, and where the package is missing one line that
    names the package to install (its name, pixelsecurer, is not the module's)."""
    return "\n".join([
        "try:",
        "    import pixelsecurer_lib as psl",
        "except ModuleNotFoundError as error:",
        '    if error.name != "pixelsecurer_lib":',
        "        raise",
        "    raise ModuleNotFoundError(\"No module named 'pixelsecurer_lib': install the package \"",
        '                              f"pixelsecurer (pip install \\"{PIXELSECURER}\\", or "',
        '                              "pip install -e . in a clone), then restart the kernel") from None',
    ])


def install_cell_head(root: Path = None) -> str:
    """The generated lines that install (in Colab) and import the library."""
    return install_lines(root) + "\n\n" + import_lines()


def colab_setup_lines() -> str:
    """The two switches of the first cell: keep the cache on Google Drive, and the profile."""
    return "\n".join([
        "# In Colab, DRIVE = True keeps trained models on Google Drive (they survive a reset), and",
        '# PROFILE = "paper" runs the full recipe on a GPU runtime (None: PIXELSECURER_PROFILE, else cpu).',
        "DRIVE, PROFILE, CACHE = False, None, None",
        "if DRIVE:",
        '    if "google.colab" not in sys.modules:',
        '        raise RuntimeError("DRIVE = True needs Google Colab; elsewhere set it to False "',
        '                           "(PIXELSECURER_CACHE chooses the cache folder)")',
        "    from google.colab import drive",
        '    drive.mount("/content/drive")',
        f'    CACHE = "{DRIVE_CACHE}"',
    ])


SWITCHES = ", profile=PROFILE, cache=CACHE"


def first_cell(source: str, root: Path = None, where: str = "cell") -> str:
    """``source`` (a chapter's first code cell) with its generated lines written afresh.

    Everything before the ``ctx = psl.setup_chapter(...)`` line is generated; that line and
    what follows it belong to the chapter, except that the call gets the two switches
    (``profile=PROFILE, cache=CACHE``) after the chapter's own arguments.
    """
    lines = source.split("\n")
    for i, line in enumerate(lines):
        match = SETUP_CALL.match(line)
        if match:
            head = install_cell_head(root) + "\n\n" + colab_setup_lines()
            args = match["args"].replace(SWITCHES, "")
            call = f"ctx = psl.setup_chapter({args}{SWITCHES}){match['comment'] or ''}"
            return "\n".join([head, call] + lines[i + 1:])
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


def synced_config(text: str, root: Path = None) -> str:
    """_config.yml with ``repository.branch`` set to the release's tag, so that the launch
    buttons open the tag's notebook (the one that installs the tag's library)."""
    lines = text.split("\n")
    inside = False
    for i, line in enumerate(lines):
        if re.match(r"^repository:\s*(#.*)?$", line):
            inside = True
        elif inside and line and not line[0].isspace() and not line.startswith("#"):
            break
        elif inside and re.match(r"^\s+branch:", line):
            indent = line[:len(line) - len(line.lstrip())]
            lines[i] = f"{indent}branch: {tag(root)}"
            return "\n".join(lines)
    raise ValueError("_config.yml: no repository.branch line to set to the release's tag; "
                     "expected '  branch: v...' under 'repository:'")


README_INSTALL = re.compile(r'"pixelsecurer @ git\+[^"@\s]+@v[^"\s]+"')


def synced_readme(text: str, root: Path = None) -> str:
    """README.md with its copy-and-paste install line pinned to this release."""
    return README_INSTALL.sub(f'"{requirement(root)}"', text)


def out_of_sync(root: Path = None):
    root = root or ROOT
    bad = []
    readme = root / "README.md"
    if readme.exists() and readme.read_text() != synced_readme(readme.read_text(), root):
        bad.append(f"README.md: its install line does not pin {tag(root)} (run `make sync`)")
    config = root / "_config.yml"
    if config.read_text() != synced_config(config.read_text(), root):
        bad.append(f"_config.yml: repository.branch is not the release's tag {tag(root)} (run `make sync`)")
    for md in installing_sources(root):
        rel = md.relative_to(root)
        if md.read_text() != synced_markdown(md.read_text(), root, str(rel)):
            bad.append(f"{rel}: first cell differs from the generated install cell (run `make sync`)")
    cff = root / "CITATION.cff"
    if cff.read_text() != synced_citation(cff.read_text(), root):
        bad.append("CITATION.cff: version or repository-code differs (run `make sync`)")
    return bad


def _replace(path: Path, text: str):
    from pixelsecurer_lib._io import atomic_path

    if path.read_text() != text:
        with atomic_path(path) as tmp:
            tmp.write_text(text)


def write_all(root: Path = None):
    root = root or ROOT
    config = root / "_config.yml"
    _replace(config, synced_config(config.read_text(), root))
    readme = root / "README.md"
    if readme.exists():
        _replace(readme, synced_readme(readme.read_text(), root))
    for md in installing_sources(root):
        _replace(md, synced_markdown(md.read_text(), root, str(md.relative_to(root))))
    cff = root / "CITATION.cff"
    _replace(cff, synced_citation(cff.read_text(), root))


def check_tag(name: str, root: Path = None):
    """Problems (one line each) that keep the git tag ``name`` from being published: it must be
    ``v`` + ``__version__``, and every generated file must already name that version."""
    root = root or ROOT
    if name != tag(root):
        return [f"tag {name!r} does not match __version__ {version(root)!r} in "
                f"pixelsecurer_lib/__init__.py: expected the tag {tag(root)}"]
    return out_of_sync(root)


if __name__ == "__main__":
    import sys

    if len(sys.argv) != 3 or sys.argv[1] != "check-tag":
        print("usage: python tools/release.py check-tag vX.Y.Z", file=sys.stderr)
        sys.exit(2)
    try:
        problems = check_tag(sys.argv[2])
        if not problems:
            import pairing                      # the Colab copies too (tools/ is on sys.path)
            problems = pairing.out_of_sync()
    except ValueError as error:
        problems = [str(error)]
    for line in problems:
        print(f"release: {line}", file=sys.stderr)
    if problems:
        sys.exit(2)
    print(f"release: tag {sys.argv[2]} matches __version__ and every generated file")
