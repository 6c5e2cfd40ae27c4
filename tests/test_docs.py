"""The documentation says what the code does: every ``linkgate …`` example in README.md and docs/*.md is
run, and every setting the code reads is in docs/configuration.md (and nothing else is).

Which examples: in a fenced code block, every line that runs ``linkgate`` (the word first on the line, or
a path to it such as ``/opt/linkgate/venv/bin/linkgate`` after ``runuser … --``) with a command or an
option, up to a shell operator or quote (a comment after ``#`` is not part of it, ``> FILE`` sends its
output to FILE); outside fenced blocks, every inline code span that starts with ``linkgate `` (it may run
over a line break).

How each is judged, by what it is:

- **a reference** names a command without the arguments it needs (``linkgate sign``, ``linkgate audit
  --max-sitemap-entries``): the command and every option named must exist;
- **a synopsis** shows a form with ``[optional parts]``, ``a|b`` alternatives, ``…`` or placeholders in
  capitals (``NAME``, ``HOST``): every command, option and choice it names must exist, every placeholder
  must have a value in :data:`PLACEHOLDERS`, and the form without its optional parts and the one with all
  of them (when that is one command line) are run with those values;
- **an example** is run as it is written.

Commands run in this process (click's ``CliRunner``) in a sandbox instance, one per document, in the order the
document gives them (so ``rules remove`` finds the rule ``allow`` made before it), with the test run's
database, a configuration of its own and a working folder holding the pages and files the examples name. The
addresses the commands that fetch would read (``check-site``, ``audit``) are a local site, the County's and
example.org's names pinned to it (:data:`FETCHED`). A run must exit as :data:`EXIT_CODES` says (0 unless
listed), print no traceback, write an error line to standard error only when it exits 2 (and then exactly one,
``linkgate: error: …``), and print what :func:`output_problem` expects of its kind (JSON for ``--json``, the
shapes of :data:`SHAPES`, never ``None``). The commands that start a server and run until stopped
(:data:`NOT_RUN`) are checked through their ``--help``.
"""

from __future__ import annotations

import gc
import itertools
import json
import re
import shlex
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import pytest

from linkgate.cli import main
from linkgate.config import KEYS, OTHER_VARIABLES, Settings, _env_name
from tests.conftest import ROOT, AppServer

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# Placeholders a synopsis may use, and what the sandbox runs in their place.
PLACEHOLDERS = {
    "NAME": "webmaster",  # and a number: each account a synopsis makes is a new one
    "HOST": "www.example.net",  # the sandbox fixture pins its privacy link first
    "URL": "https://example.org/page",
    "START_URL": "https://www.missoulacounty.us/",
    "TEXT": "example",
    "FILE": "rules.csv",
    "FOLDER": "backups",
    "H": "127.0.0.1",
    "P": "8000",
    "N": "2",
}
# Paths the sandbox cannot write, and where it writes instead.
PATHS = {"/var/lib/linkgate/audit": "audit-reports"}
# Files a webmaster would have saved before running the examples that read them (a downloaded known-bad
# list): written in the sandbox's working folder, where the examples run.
FILES = {
    "phishing-hosts.txt": (
        "# Phishing sites reported to the County, in hosts format\n"
        "0.0.0.0 missoulacounty-payments.example\n"
        "0.0.0.0 tax-refund-missoula.example login-update.example\n"
    ),
}
# Commands that read other sites: the addresses they name are the local site, reached by the same name.
FETCHED = ("https://www.missoulacounty.us", "https://example.org")
FETCHING = {("check-site",), ("audit",)}
# Commands that start a server and run until stopped: their --help must name every option shown.
NOT_RUN = {
    ("serve",): "starts gunicorn and serves until it is stopped",
    ("demo",): "starts a demo server and serves until it is stopped",
}
# Exit codes other than 0, by document and command as written.
EXIT_CODES: dict[tuple[str, str], int] = {}
# Standard input for the commands that ask for something.
PASSWORD = "correct horse battery staple"
INPUTS = {
    ("create-admin",): f"{PASSWORD}\n{PASSWORD}\n",
    ("accounts", "set-password"): f"{PASSWORD}\n{PASSWORD}\n",
}


# In a fenced block: linkgate first on the line, or a path to it after a word such as runuser's "--".
INVOCATION = re.compile(r"(?:^\s*|(?:^|\s)/\S*/bin/)linkgate ((?:[a-z]|--)[^&;|'`()]*)")


@dataclass(frozen=True)
class Example:
    doc: str
    line: int
    text: str
    fenced: bool

    def __str__(self) -> str:
        return f"{self.doc}:{self.line}: {self.text}"


def examples(path: Path) -> list[Example]:
    """Every ``linkgate …`` example of one document, in order (see the module's docstring for the rule)."""
    doc = str(path.relative_to(ROOT))
    found: list[Example] = []
    prose: list[str] = []
    fence = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.lstrip().startswith("```"):
            fence = not fence
            prose.append("")
            continue
        if fence:
            prose.append("")
            invocation = INVOCATION.search(line)
            if invocation is not None:
                words = shlex.split(invocation.group(1), comments=True)
                found.append(Example(doc, number, shlex.join(["linkgate", *words]), fenced=True))
        else:
            prose.append(line)
    text = "\n".join(prose)
    for match in re.finditer(r"(?<!`)`(linkgate [^`]+)`(?!`)", text):
        number = text.count("\n", 0, match.start()) + 1
        span = " ".join(match.group(1).replace("\\|", "|").split())
        found.append(Example(doc, number, span, fenced=False))
    return sorted(found, key=lambda example: example.line)


def all_examples() -> list[Example]:
    return [example for path in DOCS for example in examples(path)]


# ---- reading an example against the command line's own definition -----------------------------------


@dataclass
class Reading:
    path: tuple[str, ...]
    command: click.Command
    words: list[str]  # the words after the command's path
    problems: list[str]


def read(example: Example) -> Reading:
    words = shlex.split(example.text)[1:]
    if ">" in words:
        words = words[: words.index(">")]
    command: click.Command = main
    path: list[str] = []
    while isinstance(command, click.Group) and words and words[0] in command.commands:
        path.append(words[0])
        command = command.commands[words.pop(0)]
    reading = Reading(tuple(path), command, words, [])
    if isinstance(command, click.Group) and words and "|" in words[0]:
        unknown = [name for name in words[0].split("|") if name not in command.commands]
        if unknown:
            reading.problems.append(f"no command linkgate {' '.join(path)} {', '.join(unknown)}")
        words.pop(0)
    elif isinstance(command, click.Group) and words and not words[0].startswith(("-", "[")):
        reading.problems.append(f"no command linkgate {' '.join(path)} {words[0]}")
    options = {name: param for param in command.params for name in param.opts + param.secondary_opts}
    pending = list(words)
    while pending:
        word = pending.pop(0).strip("[]…")
        if not word.startswith("--"):
            continue
        name, _, inline = word.partition("=")
        param = options.get(name)
        if param is None:
            reading.problems.append(f"linkgate {' '.join(path)} has no option {name}")
            continue
        if isinstance(param, click.Option) and not param.is_flag and pending and not inline:
            value = pending[0].strip("[]")
            choices = getattr(param.type, "choices", None)
            if choices is not None and value and value not in PLACEHOLDERS and value != "…":
                unknown = [item for item in value.split("|") if item not in choices]
                if unknown:
                    reading.problems.append(f"{name} has no choice {', '.join(unknown)}")
            if not pending[0].startswith("--"):
                pending.pop(0)
    return reading


_accounts = itertools.count(1)


PLACEHOLDER = re.compile(r"\[?([A-Z][A-Z_]*)\]?")


def placeholders(example: Example) -> list[str]:
    """The words in capitals an example uses in place of a value (NAME, HOST, URL...)."""
    return [
        match.group(1) for word in shlex.split(example.text)[1:] if (match := PLACEHOLDER.fullmatch(word))
    ]


def is_synopsis(example: Example) -> bool:
    words = shlex.split(example.text)[1:]
    return bool(placeholders(example)) or any(re.search(r"[\[\]|…]", word) for word in words)


def runnable_forms(example: Example) -> list[str]:
    """The command lines a synopsis stands for: without its optional parts, and with all of them when
    that is one command line (no alternatives or ``…`` in them)."""
    shortest = re.sub(r"\s*\[[^\]]*\]", "", example.text)
    longest = re.sub(r"\[([^\]]*)\]", r"\1", example.text)
    forms = [form for form in dict.fromkeys((shortest, longest)) if _one_line(form) is not None]
    return [line for form in forms if (line := _one_line(form)) is not None]


def _one_line(text: str) -> str | None:
    words = [
        f"{PLACEHOLDERS[word]}{next(_accounts)}" if word == "NAME" else PLACEHOLDERS.get(word, word)
        for word in shlex.split(text)
    ]
    if any(re.search(r"[|…]", word) for word in words):
        return None
    return shlex.join(words)


def needs_more(reading: Reading) -> bool:
    """Whether the words give fewer positional arguments than the command requires, or name an option
    without the value it takes (a reference)."""
    required = sum(
        1 for param in reading.command.params if isinstance(param, click.Argument) and param.required
    )
    options = {name: param for param in reading.command.params for name in param.opts}
    positional, pending = 0, list(reading.words)
    while pending:
        word = pending.pop(0)
        if word.startswith("--"):
            param = options.get(word.partition("=")[0])
            if isinstance(param, click.Option) and not param.is_flag and "=" not in word:
                if not pending or pending[0].startswith("--"):
                    return True
                pending.pop(0)
        else:
            positional += 1
    return positional < required


# ---- the sandbox ---------------------------------------------------------------------------------------

PAGE = """<!doctype html><html lang="en"><head><title>{title}</title></head><body><main>
<h1>{title}</h1>
<a href="/parks/">Parks and trails</a> <a href="/calendar/">Calendar of events</a>
<a href="/privacy">Privacy policy</a>{more}
</main></body></html>"""
OFF_SITE = ' <a href="https://partner.example/forms">Partner forms</a>'  # for the pages rewrite reads


@pytest.fixture
def local_site(threaded_site: Any) -> Any:
    """The site the fetching examples read: a few County-like pages, a privacy page, a robots.txt."""
    from werkzeug import Response

    def answer(request: Any) -> Any:
        if request.path == "/robots.txt":
            return Response("User-agent: *\nAllow: /\n", content_type="text/plain")
        if request.path.startswith("/sitemap"):
            return Response("", status=404)
        title = request.path.strip("/") or "Home"
        return Response(PAGE.format(title=title, more=""), content_type="text/html")

    threaded_site.expect_request(re.compile(".*")).respond_with_handler(answer)
    return threaded_site


@dataclass
class Sandbox:
    server: AppServer
    work: Path
    port: int

    def run(self, line: str, fetching: bool) -> tuple[int, str, str]:
        words = shlex.split(line)[1:]
        target = None
        if ">" in words:
            target = self.work / words[words.index(">") + 1]
            words = words[: words.index(">")]
        words = [PATHS.get(word, word) for word in words]
        if fetching:
            words = [_local(word, self.port) for word in words]
        command = tuple(words[:2]) if tuple(words[:2]) in INPUTS else tuple(words[:1])
        result = self.server.cli(*words, check=False, input=INPUTS.get(command))
        if target is not None:
            target.write_text(result.stdout, encoding="utf-8")
        return result.returncode, result.stdout, result.stderr


def _local(word: str, port: int) -> str:
    for address in FETCHED:
        if word.startswith(address):
            host = address.removeprefix("https://")
            return f"http://{host}:{port}" + word.removeprefix(address)
    return word


@pytest.fixture
def sandbox(tmp_path: Path, local_site: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    port = local_site.port
    config: dict[str, dict[str, Any]] = {
        "server": {"public_url": "https://links.missoulacounty.us"},
        "fetch": {
            "system_resolver": False,
            "resolve": [f"{address.removeprefix('https://')}=127.0.0.1" for address in FETCHED],
            "allow_networks": ["127.0.0.0/8"],
            "allowed_ports": [80, 443, port],
            "privacy_wait_ms": 0,
        },
    }
    server = AppServer(tmp_path, config)
    server.config_path.chmod(0o600)
    work = tmp_path / "work"
    for folder in ("site", "site/parks", "parks", "build"):
        (work / folder).mkdir(parents=True, exist_ok=True)
    for page in ("site/index.html", "site/parks/index.html", "parks/index.html", "build/index.html"):
        (work / page).write_text(PAGE.format(title=page, more=OFF_SITE), encoding="utf-8")
    for name, text in FILES.items():
        (work / name).write_text(text, encoding="utf-8")
    monkeypatch.chdir(work)
    # What the examples take as there already: the database, and a site with a pinned privacy link.
    server.cli("db", "upgrade")
    server.cli("site", "set-privacy", PLACEHOLDERS["HOST"], f"https://{PLACEHOLDERS['HOST']}/privacy")
    threshold = gc.get_threshold()
    yield Sandbox(server, work, port)
    server.stop()
    # The audit tunes the collector for its own run (in a process of its own); not for the rest of the tests.
    gc.unfreeze()
    gc.set_threshold(*threshold)


# ---- what a run must print ---------------------------------------------------------------------------

GATE_LINK = r"https://links\.missoulacounty\.us/go\?url=\S+&sig=\S+"
SHAPES: dict[tuple[str, ...], str] = {
    ("sign",): rf"\A{GATE_LINK}\n\Z",
    ("test-link",): r"\Adestination +\S+\ncategory +\w+\naction +\w+\nflags +.+\nrule +\S+\nlisted +\S+\n\Z",
    ("config", "check"): r"\AThe configuration reads: ",
    ("api-token",): r"\Atoken: \S+\n.*\napi_tokens = \[\"[0-9a-f]{64}\"\]\n\Z",
    ("check-site",): r"(?m)^host +\S+\n^status +found\n^privacy link +http://\S+/privacy\n",
    ("audit",): r"(?m)^\d+ page\(s\) read, \d+ link\(s\) \(\d+ off-site\), \d+ with problems\.$",
    ("create-admin",): r"created (admin|viewer) account \S+\n\Z",
    ("stats",): r"\A(day|domain)[,\t]redirect[,\t]notice[,\t]block[,\t]total\n|\A\{|\ANo clicks from ",
    ("rules",): r"(?m)^(allow|block) +\S+",
    ("rules", "list"): r"(?m)^(allow|block) +\S+",
    ("allow",): r"\Aallowed \S+( \(action: \w+\))?\n\Z",
    ("block",): r"\Ablocked \S+\n\Z",
    ("accounts", "list"): r"\S",
    ("log",): r"(?m)^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S+ +\S+ +[a-z]+\.[a-z-]+ |\ANo changes match\.\n\Z",
    ("sites", "list"): r"\Ahost\tlookup\tprivacy link\t|\ANo sites\.",
    ("db", "check"): r"\AThe database is at revision \S+, the newest",
}


def output_problem(path: tuple[str, ...], words: list[str], stdout: str) -> str | None:
    """What is wrong with a successful run's output, or None."""
    formats = [words[at + 1] for at, word in enumerate(words[:-1]) if word == "--format"]
    if ("--json" in words or "json" in formats) and path != ("audit",):  # the audit writes files
        try:
            json.loads(stdout)
        except ValueError:
            try:  # JSON Lines: one object a line (linkgate log --json), none for an empty list
                [json.loads(text) for text in stdout.splitlines()]
            except ValueError as error:
                return f"--json printed no JSON ({error})"
        return None
    shape = SHAPES.get(path)
    if shape is not None and not re.search(shape, stdout):
        return f"output does not match {shape!r}"
    if re.search(r"\bNone\b", stdout):
        return "output says None"
    return None


def check(example: Example, sandbox: Sandbox) -> list[str]:
    """What is wrong with one example (empty when it is right)."""
    reading = read(example)
    problems = list(reading.problems)
    problems += [
        f"placeholder {name}: give it a value in PLACEHOLDERS (tests/test_docs.py) or write the example"
        for name in placeholders(example)
        if name not in PLACEHOLDERS
    ]
    if problems:
        return problems
    if reading.path in NOT_RUN or (not is_synopsis(example) and needs_more(reading)):
        if reading.path in NOT_RUN:
            help_text = sandbox.server.cli(*reading.path, "--help", check=False).stdout
            problems += [
                f"--help does not name {word}"
                for word in reading.words
                if word.strip("[]").startswith("--") and word.strip("[]") not in help_text
            ]
        return problems
    for line in runnable_forms(example) if is_synopsis(example) else [example.text]:
        if not needs_more(read(Example(example.doc, example.line, line, example.fenced))):
            problems += run(example, line, reading.path, sandbox)
    return problems


def run(example: Example, line: str, path: tuple[str, ...], sandbox: Sandbox) -> list[str]:
    """Run one command line of an example; what is wrong with its exit code and output."""
    status, stdout, stderr = sandbox.run(line, fetching=path in FETCHING)
    expected = EXIT_CODES.get((example.doc, example.text), 0)
    said = f"(ran {line!r}; stdout {stdout[-600:]!r}; stderr {stderr[-900:]!r})"
    if status != expected:
        return [f"exit {status}, not {expected} {said}"]
    if "Traceback" in stdout + stderr:
        return [f"printed a traceback {said}"]
    errors = [text for text in stderr.splitlines() if text.startswith(("linkgate: error:", "Error:"))]
    if status == 2 and (len(errors) != 1 or not stderr.startswith("linkgate: error: ")):
        return [f"exit 2 without one 'linkgate: error:' line {said}"]
    if status != 2 and errors:
        return [f"an error on standard error {said}"]
    if status == 0:
        problem = output_problem(path, shlex.split(line), stdout)
        if problem is not None:
            return [f"{problem} {said}"]
    return []


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: path.name)
def test_every_linkgate_example_in_the_docs_runs_as_shown(doc: Path, sandbox: Sandbox) -> None:
    found = examples(doc)
    failures = [f"{example}: {problem}" for example in found for problem in check(example, sandbox)]
    assert not failures, "\n".join(failures)


def test_the_docs_have_examples_to_run() -> None:
    found = all_examples()
    assert len(found) >= 100, len(found)
    assert sum(1 for example in found if example.fenced) >= 30


# ---- settings ------------------------------------------------------------------------------------------


def documented_settings() -> dict[tuple[str, str], Any]:
    """The settings in configuration.md's TOML block: (section, key) -> the value shown."""
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    block = re.search(r"```toml\n(.*?)```", text, re.S)
    assert block is not None, "configuration.md has no ```toml block"
    document = tomllib.loads(block.group(1))
    found: dict[tuple[str, str], Any] = {}
    for name, value in document.items():
        if isinstance(value, dict):
            found.update({(name, key): inner for key, inner in value.items()})
        else:
            found[("", name)] = value
    return found


def test_every_setting_the_code_reads_is_documented_and_nothing_else() -> None:
    documented = documented_settings()
    label = lambda item: ".".join(part for part in item if part)  # noqa: E731
    assert sorted(map(label, set(KEYS) - set(documented))) == [], "settings missing from configuration.md"
    assert sorted(map(label, set(documented) - set(KEYS))) == [], "configuration.md shows unknown settings"


def test_every_value_configuration_md_shows_is_the_setting_s_default() -> None:
    """The TOML block is "every setting, with its default": a value shown is the one the code starts with
    (both read by the setting's own parser, which writes a URL one way), except where it shows "…"."""
    defaults = Settings(instance_path=ROOT, secret_key="not shown")
    wrong = []
    for (section, key), shown in documented_settings().items():
        name, parse = KEYS[(section, key)]
        if isinstance(shown, str) and "…" in shown:
            continue
        if name.startswith("action:"):
            default: Any = defaults.action_for(name.removeprefix("action:"))
        else:
            default = getattr(defaults, name)
        if parse(shown) != (parse(default) if isinstance(default, str) else default):
            wrong.append(f"{section}.{key}: shows {shown!r}, the default is {default!r}")
    assert not wrong, "\n".join(wrong)


def test_every_linkgate_variable_the_docs_and_the_kit_name_is_one_linkgate_knows() -> None:
    """linkgate refuses to start with a LINKGATE_* variable it does not know, so every one the docs, the
    deploy kit and the scripts name must be a setting or listed in config.OTHER_VARIABLES."""
    settings = {_env_name(section, key) for section, key in KEYS}
    configuration = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    for name in OTHER_VARIABLES:
        assert f"`{name}`" in configuration, f"{name} is not explained in configuration.md"
    kit = [path for folder in ("deploy", "scripts") for path in (ROOT / folder).rglob("*") if path.is_file()]
    for path in [*DOCS, *kit]:
        text = path.read_text(encoding="utf-8", errors="replace")
        for name in set(re.findall(r"\bLINKGATE_[A-Z0-9_]*[A-Z0-9]\b", text)):
            known = name in settings or name in OTHER_VARIABLES or name.startswith("LINKGATE_TEST_")
            assert known, f"{path.relative_to(ROOT)} names {name}, which linkgate does not know"


# ---- JSON the docs describe ----------------------------------------------------------------------------


def test_healthz_answers_exactly_the_fields_api_md_lists(make_app: Any) -> None:
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    described = re.search(r"- `GET /healthz`: `(\{.*?\})`", text, re.S)
    assert described is not None, "api.md no longer describes /healthz"
    documented = set(re.findall(r'"(\w+)":', described.group(1)))
    answer = make_app().get("/healthz")
    assert answer.status_code == 200
    assert set(answer.json()) == documented


# ---- the command line's own words ----------------------------------------------------------------------


def test_sign_and_test_link_speak_to_the_webmaster_not_to_a_visitor(make_app: Any) -> None:
    server = make_app(start=False)
    empty = server.cli("sign", "", check=False)
    assert empty.returncode == 2
    assert empty.stderr == (
        "linkgate: error: URL is empty: give the address to link to, such as https://example.org/page\n"
    )
    assert "url parameter" not in server.cli("test-link", " ", check=False).stderr
    shown = server.cli("test-link", "https://example.org/").stdout
    assert "None" not in shown
    assert re.search(r"(?m)^rule +-$", shown) and re.search(r"(?m)^flags +-$", shown)


def test_sign_warns_while_public_url_is_the_default_as_rewrite_does(make_app: Any) -> None:
    default = make_app(start=False)
    default.config_path.write_text("", encoding="utf-8")  # server.public_url not set
    signed = default.cli("sign", "https://example.org/")
    assert signed.stdout.startswith("http://127.0.0.1:8000/go?url=")
    assert signed.stderr.startswith("linkgate: warning: server.public_url is not set")
    configured = make_app({"server": {"public_url": "https://links.example.org"}}, start=False)
    assert configured.cli("sign", "https://example.org/").stderr == ""


def test_create_admin_reads_a_password_from_a_pipe_without_a_warning(tmp_path: Path) -> None:
    import os
    import subprocess

    from tests.conftest import LINKGATE

    env = {name: value for name, value in os.environ.items() if not name.startswith("LINKGATE_")}
    env["LINKGATE_INSTANCE"] = str(tmp_path / "instance")
    typed = f"{PASSWORD}\n{PASSWORD}\n"
    made = subprocess.run(
        [*LINKGATE, "create-admin", "piped"],
        input=typed,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    assert made.stderr == ""  # no GetPassWarning, no "Password input may be echoed"
    changed = subprocess.run(
        [*LINKGATE, "accounts", "set-password", "piped"],
        input=typed,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert changed.returncode == 0 and changed.stderr == ""


def test_the_import_error_webmaster_md_shows_is_the_one_an_import_gives(
    make_app: Any, tmp_path: Path
) -> None:
    text = (ROOT / "docs" / "webmaster.md").read_text(encoding="utf-8")
    shown = re.search(r"what is wrong \(`(line 4: [^`]+)`\)", text)
    assert shown is not None, "webmaster.md no longer shows an import error"
    rules = tmp_path / "rules.csv"
    rows = ["pattern,exact,kind,action,note", "*.a.example,false,allow,,", "*.b.example,false,allow,,"]
    rules.write_text("\n".join([*rows, "*.c.example,false,deny,,"]) + "\n", encoding="utf-8")
    refused = make_app(start=False).cli("rules", "import", str(rules), check=False)
    assert refused.returncode == 2
    assert shown.group(1) in refused.stderr


def test_removing_an_exact_host_rule_without_exact_says_how(make_app: Any) -> None:
    server = make_app(start=False)
    server.cli("allow", "forms.example.org", "--exact")
    refused = server.cli("rules", "remove", "forms.example.org", check=False)
    assert refused.returncode == 2
    assert refused.stderr == (
        "linkgate: error: There is no rule for *.forms.example.org. The rule for forms.example.org alone "
        "(an exact host) is removed with --exact.\n"
    )
    assert server.cli("rules", "remove", "forms.example.org", "--exact").stdout == (
        "removed allow forms.example.org\n"
    )
    nothing = server.cli("rules", "remove", "other.example.org", check=False)
    assert nothing.stderr == "linkgate: error: There is no rule for *.other.example.org.\n"


def test_check_site_exits_1_when_the_lookup_fails_and_still_says_why(make_app: Any) -> None:
    server = make_app(start=False)
    failed = server.cli("check-site", "https://unreachable.example/", check=False)
    assert failed.returncode == 1, failed.stderr
    assert re.search(r"(?m)^status +error$", failed.stdout) and re.search(r"(?m)^error +\S", failed.stdout)
    as_json = server.cli("check-site", "https://unreachable.example/", "--json", check=False)
    assert as_json.returncode == 1 and json.loads(as_json.stdout)["status"] == "error"


def test_audit_md_s_options_table_is_audit_s_options_with_their_defaults() -> None:
    text = (ROOT / "docs" / "audit.md").read_text(encoding="utf-8")
    table = text.split("\n## Options\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"(?m)^\| `(--[a-z-]+(?:/--[a-z-]+)?)[^`]*` \|\s*([^|]*?)\s*\|", table)
    documented = {name: cell.strip() for name, cell in rows}
    command = main.commands["audit"]
    options = {
        "/".join(param.opts + param.secondary_opts): param
        for param in command.params
        if isinstance(param, click.Option) and "--help" not in param.opts
    }
    assert sorted(documented) == sorted(options)
    for name, cell in documented.items():
        if re.fullmatch(r"\d+(\.\d+)?", cell.replace(",", "")):
            assert float(cell.replace(",", "")) == float(str(options[name].default)), name


def commands(
    group: click.Group, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    """Every command of the ``linkgate`` command line, by its path (``("rules", "remove")``)."""
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from commands(command, (*path, name))
        if not isinstance(command, click.Group) or command.invoke_without_command:
            yield (*path, name), command


def test_every_command_and_option_is_in_the_docs() -> None:
    """What is real is documented: each command is in an example (under one of its names: ``site clear``
    is also ``sites clear``), and each of its options in one of its examples or, as audit.md's table does,
    at the start of a code span (`--max-pages N`)."""
    found = [(example, read(example)) for example in all_examples()]
    spans = {
        match.group(1)
        for doc in DOCS
        for match in re.finditer(r"`(--[a-z][a-z-]*)", doc.read_text(encoding="utf-8"))
    }
    named: dict[int, set[str]] = {}  # a command (by identity) -> the words of every example naming it
    for example, reading in found:
        words = {word.strip("[]") for word in shlex.split(example.text)}
        named.setdefault(id(reading.command), set()).update(words)
        if isinstance(reading.command, click.Group):  # accounts list|set-role|…: each one is named
            for word in words:
                for name in word.split("|"):
                    if name in reading.command.commands:
                        named.setdefault(id(reading.command.commands[name]), set())
    missing = []
    for path, command in commands(main):
        if id(command) not in named:
            missing.append(f"linkgate {' '.join(path)}")
            continue
        for param in command.params:
            names = [*param.opts, *param.secondary_opts]
            if isinstance(param, click.Option) and "--help" not in names:
                if not any(name in named[id(command)] or name in spans for name in names):
                    missing.append(f"linkgate {' '.join(path)} {'/'.join(names)}")
    assert not missing, "not in README.md or docs/*.md: " + ", ".join(missing)
