"""The release every chapter installs: one version, one address, a tag, and a first cell that fails clearly."""
import re
import subprocess
import sys

import yaml

import pixelsecurer_lib
import release


def test_version_and_address_come_from_their_one_place():
    assert release.version() == pixelsecurer_lib.__version__
    config = yaml.safe_load((release.ROOT / "_config.yml").read_text())
    assert release.repository_url() == config["repository"]["url"].rstrip("/")
    assert release.requirement() == (f"pixelsecurer @ git+{config['repository']['url'].rstrip('/')}"
                                     f"@v{pixelsecurer_lib.__version__}")


def test_every_install_cell_pins_the_generated_requirement():
    pages = release.installing_sources()
    assert len(pages) >= 20                     # chapters, the assignment and the solutions
    wanted = f'    PIXELSECURER = "{release.requirement()}"'
    for page in pages:
        lines = [l for l in page.read_text().split("\n") if "git+" in l]
        assert lines == [wanted], f"{page.relative_to(release.ROOT)}: {lines} (run `make sync`)"


def test_citation_file_names_this_release_and_both_licences():
    cff = yaml.safe_load((release.ROOT / "CITATION.cff").read_text())
    assert cff["version"] == release.version()
    assert cff["repository-code"] == release.repository_url()
    assert set(cff["license"]) == {"MIT", "CC-BY-4.0"}
    licence = (release.ROOT / "LICENSE").read_text()
    assert "MIT License" in licence and "CC BY 4.0" in licence


def test_a_bad_address_in_config_is_refused_with_its_value(tmp_path):
    (tmp_path / "_config.yml").write_text("repository:\n  url: github.com/nobody\n")
    try:
        release.repository_url(tmp_path)
    except ValueError as error:
        assert "github.com/nobody" in str(error) and "_config.yml" in str(error)
    else:
        raise AssertionError("an address without https://OWNER/NAME must be refused")


def test_a_failing_install_shows_pips_message_then_one_line_saying_what_to_do(tmp_path):
    head = release.install_cell_head()
    head = head.replace(release.requirement(), f"pixelsecurer @ file://{tmp_path}/no-such-release")
    head = head.replace("import pixelsecurer_lib as psl", "")
    fake_colab = "import sys, types; sys.modules['google.colab'] = types.ModuleType('google.colab')\n"
    done = subprocess.run([sys.executable, "-c", fake_colab + head], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode != 0
    assert "no-such-release" in done.stderr and "ERROR" in done.stderr      # pip's own message
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("RuntimeError: pip could not install the library (its message is above)")
    assert f"tag {release.tag()} exists at {release.repository_url()}" in last
    assert "CalledProcessError" not in done.stderr


def test_outside_colab_the_install_cell_installs_nothing():
    head = release.install_cell_head().replace("import pixelsecurer_lib as psl", "")
    done = subprocess.run([sys.executable, "-c", head + "\nprint('pip' in dir())"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "False"


def test_the_colab_line_keeps_the_chapters_own_arguments():
    text = release.first_cell("ctx = psl.setup_chapter(seed=0, load_data=False)   # prints")
    commented = [l for l in text.split("\n") if l.startswith("# from google.colab")]
    assert commented == ['# from google.colab import drive; drive.mount("/content/drive"); '
                         'ctx = psl.setup_chapter(seed=0, load_data=False, profile="cpu", '
                         f'cache="{release.DRIVE_CACHE}")']
    assert re.search(r"\nctx = psl\.setup_chapter\(seed=0, load_data=False\)   # prints$", text)


def test_every_install_line_in_the_book_pins_the_release_tag():
    """Pages whose first cell is not generated (the assignment masters and the pages written
    from them) pin the same tag by hand: no page installs the head of a branch."""
    lines = [(page, line) for page in release.ROOT.glob("book/**/*.md")
             for line in page.read_text().splitlines() if "git+https://" in line]
    assert lines
    for page, line in lines:
        assert f"@{release.tag()}" in line, f"{page}: {line.strip()}"
