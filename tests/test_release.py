"""The release every chapter installs: one version, one address, a tag, and a first cell that fails clearly."""
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
    wanted = f'PIXELSECURER = "{release.requirement()}"'
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


FAKE_COLAB = "import sys, types; sys.modules['google.colab'] = types.ModuleType('google.colab')\n"


def test_a_failing_install_shows_pips_message_then_one_line_saying_what_to_do(tmp_path):
    head = release.install_lines()
    head = head.replace(release.requirement(), f"pixelsecurer @ file://{tmp_path}/no-such-release")
    head = head.replace(f'installed != "{release.version()}"', 'installed != "another release"')
    done = subprocess.run([sys.executable, "-c", FAKE_COLAB + head], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode != 0
    assert "no-such-release" in done.stderr and "ERROR" in done.stderr      # pip's own message
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("RuntimeError: pip could not install the library (its message is above)")
    assert f"tag {release.tag()} exists at {release.repository_url()}" in last
    assert "CalledProcessError" not in done.stderr


def test_outside_colab_the_install_cell_installs_nothing():
    done = subprocess.run([sys.executable, "-c", release.install_lines() + "\nprint('pip' in dir())"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "False"


def test_in_colab_the_install_cell_does_not_reinstall_the_release_it_has():
    """This environment has the release installed: the cell, run in 'Colab', calls no pip
    (the requirement is made one pip could not install, to be sure)."""
    head = release.install_lines().replace(release.requirement(), "pixelsecurer @ file:///nowhere")
    done = subprocess.run([sys.executable, "-c", FAKE_COLAB + head + "\nprint('pip' in dir())"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "False", done.stderr


def test_without_the_package_the_cell_says_which_package_to_install(tmp_path):
    cell = release.install_lines() + "\n" + release.import_lines()
    done = subprocess.run([sys.executable, "-S", "-c", cell], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)  # -S: no site-packages, so no pixelsecurer_lib
    last = done.stderr.strip().splitlines()[-1]
    assert done.returncode != 0
    assert last == ("ModuleNotFoundError: No module named 'pixelsecurer_lib': install the package "
                    f'pixelsecurer (pip install "{release.requirement()}", or pip install -e . in '
                    "a clone), then restart the kernel")


def test_the_drive_switch_is_one_word_and_refused_outside_colab():
    lines = release.colab_setup_lines()
    done = subprocess.run([sys.executable, "-c", "import sys\n" + lines + "\nprint(PROFILE, CACHE)"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "None None"
    switched = lines.replace("DRIVE, PROFILE, CACHE = False,", "DRIVE, PROFILE, CACHE = True,")
    assert switched != lines
    done = subprocess.run([sys.executable, "-c", "import sys\n" + switched], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1].startswith("RuntimeError: DRIVE = True needs Google Colab")


def test_the_setup_call_keeps_the_chapters_own_arguments_and_gets_the_switches():
    text = release.first_cell("ctx = psl.setup_chapter(seed=0, load_data=False)   # prints\nx = 1")
    assert text.endswith("\nctx = psl.setup_chapter(seed=0, load_data=False, profile=PROFILE, "
                         "cache=CACHE)   # prints\nx = 1")
    assert release.first_cell(text) == text                   # writing it again changes nothing
    assert f'CACHE = "{release.DRIVE_CACHE}"' in text


def test_every_install_line_in_the_book_pins_the_release_tag():
    """Pages whose first cell is not generated (the assignment masters and the pages written
    from them) pin the same tag by hand: no page installs the head of a branch."""
    lines = [(page, line) for page in release.ROOT.glob("book/**/*.md")
             for line in page.read_text().splitlines() if "git+https://" in line]
    assert lines
    for page, line in lines:
        assert f"@{release.tag()}" in line, f"{page}: {line.strip()}"


def test_the_colab_buttons_open_the_tags_notebook():
    """The book's launch buttons open repository.branch: the release's tag, whose notebook
    installs the same tag's library (never main's notebook against the tag's library)."""
    assert release.book_config()["repository"]["branch"] == release.tag()
    text = "repository:\n  url: https://github.com/a/b\n  branch: main\n\nlaunch_buttons:\n  branch: x\n"
    synced = release.synced_config(text)
    assert synced == text.replace("branch: main", f"branch: {release.tag()}")
    try:
        release.synced_config("repository:\n  url: https://github.com/a/b\nbranch: main\n")
    except ValueError as error:
        assert "repository.branch" in str(error)
    else:
        raise AssertionError("a _config.yml without repository.branch must be refused")


def test_the_readmes_install_line_pins_the_release():
    readme = (release.ROOT / "README.md").read_text()
    assert f'"{release.requirement()}"' in readme
    old = readme.replace(f"@{release.tag()}", "@v0.0.1")
    assert release.synced_readme(old) == readme
