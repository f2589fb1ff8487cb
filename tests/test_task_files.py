"""Task files: benchmarks declared in TOML/YAML run like the built-in ones (end to end through the
CLI with a tiny model), read every layout the format names, resolve paths from their own folder,
come from the configured task folder, and refuse mistakes in one line naming the file and key."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from evals import sources
from evals.items import fingerprint
from evals.store import RunStore
from evals.task_files import known_tasks, read_task_file, read_task_folder
from evals.tasks import TASKS, mcq_prompt, offline_rows
from medtui.core.errors import MedtuiError
from medtui.core.registry import Registry, spec_from_source

ORGANS = ["heart", "liver", "lung", "kidney", "spleen", "pancreas", "stomach", "brain"]


def medqa_rows(n: int, options: str = "ABCD") -> list[dict]:
    """Synthetic questions in MedQA's own JSONL layout: options as a letter->text mapping, the key as a letter."""
    rows = []
    for i in range(n):
        texts = {x: f"{ORGANS[(i + k) % len(ORGANS)]} {i}-{k}" for k, x in enumerate(options)}
        key = options[i % len(options)]
        rows.append({"question": f"Question {i}: which is {texts[key]}?", "options": texts, "answer_idx": key})
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


MEDQA_YAML = """\
name: my_medqa
description: MedQA-layout questions
data: ../data/questions.jsonl
question: question
choices: options
answer: answer_idx
size: 6
"""
NO_SIZE = MEDQA_YAML.replace("size: 6\n", "")


def medtui(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "medtui", *args],
        env=os.environ.copy(),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_medqa_layout_task_file_runs_end_to_end_through_the_cli(tiny_hf_model, tmp_path):
    write_jsonl(tmp_path / "bench" / "data" / "questions.jsonl", medqa_rows(6))
    task_path = write(tmp_path / "bench" / "tasks" / "medqa.yaml", MEDQA_YAML)
    Registry().add(spec_from_source("tiny", str(tiny_hf_model)))  # what `medtui models add tiny FOLDER` does
    elsewhere = tmp_path / "elsewhere"  # the data path resolves from the task file's folder, not from here
    elsewhere.mkdir()

    loglik = medtui("eval", "run", "-m", "tiny", "--task-file", str(task_path), cwd=elsewhere)
    assert loglik.returncode == 0, loglik.stderr
    (line,) = loglik.stdout.strip().splitlines()  # the default mmlu_medical is not run beside a task file
    cells = line.split("\t")
    assert cells[:2] == ["tiny", "my_medqa"] and "n=6" in line and "source file" in line
    assert "invalid 0.0%" in line and "best constant 33.3% (A)" in line and "chance 25.0%" in line
    assert "answers A " in line and "tiny · loglik" in line

    generate = medtui(
        "eval", "run", "-m", "tiny", "-f", str(task_path), "--mode", "generate", "--max-tokens", "16", cwd=elsewhere
    )
    assert generate.returncode == 0, generate.stderr
    (line,) = generate.stdout.strip().splitlines()
    assert line.startswith("tiny\tmy_medqa\t") and "tiny · generate (16 tokens, T=0.6" in line and "invalid " in line

    runs = {r.key.mode: r for r in RunStore().runs()}  # stored like any run, with its identity
    _, items = read_task_file(task_path).load()
    assert set(runs) == {"loglik", "generate"} and all(r.state == "complete" and r.size == 6 for r in runs.values())
    assert {r.key.task for r in runs.values()} == {"my_medqa"}
    assert all(r.key.fingerprint == fingerprint(items) and r.key.prompt_fingerprint for r in runs.values())
    assert {f"run {r.key.id}" for r in runs.values()} == {cells[-1], line.split("\t")[-1]}

    compared = medtui("eval", "compare", "--task-file", str(task_path), "--json", cwd=elsewhere)
    assert compared.returncode == 0, compared.stderr
    table = json.loads(compared.stdout)
    assert table["tasks"] == ["my_medqa"] and len(table["methods"]) == 2  # loglik and generate, from the file alone


def test_csv_with_choices_in_columns_and_the_answer_as_text(tmp_path):
    write(
        tmp_path / "drugs.csv",
        "stem,first,second,third,correct,topic\n"
        "Which drug is an anticoagulant?,Aspirin,Warfarin,Insulin,Warfarin,haematology\n"
        '"Which hormone lowers glucose, in short?",Glucagon,Cortisol, Insulin ,Insulin,endocrine\n'
        "Which is an antibiotic?,Amoxicillin,Heparin,Digoxin,Amoxicillin,infection\n",
    )
    path = write(
        tmp_path / "drugs.toml",
        'name = "drugs"\ndata = "drugs.csv"\nquestion = "stem"\nchoices = ["first", "second", "third"]\n'
        'answer = "correct"\nsubject = "topic"\nsize = 3\n',
    )
    task = read_task_file(path)
    assert (task.size, task.choices, task.option_labels, task.origin) == (3, 3, ("A", "B", "C"), str(path))
    source, items = task.load()
    assert source == "file" and [i.answer for i in items] == [1, 2, 0]  # " Insulin " in the cell still matches
    assert [i.subject for i in items] == ["haematology", "endocrine", "infection"]
    assert items[1].question == "Which hormone lowers glucose, in short?" and len({i.id for i in items}) == 3


def test_every_answer_form_and_context_and_ids(tmp_path):
    rows = [
        {"q": "One?", "opts": ["a1", "b1", "c1"], "key": 2, "ctx": ["first passage", "second"], "uid": 7},
        {"q": "Two?", "opts": ["a2", "b2", "c2"], "key": "b", "ctx": "text", "uid": 8},
        {"q": "Three?", "opts": ["a3", "b3", "c3"], "key": "c3", "ctx": None, "uid": 9},
        {"q": "Four?", "opts": ["a4", "b4", "c4"], "key": "0", "ctx": "", "uid": 10},
    ]
    write_jsonl(tmp_path / "rows.jsonl", rows)
    path = write(
        tmp_path / "forms.yaml",
        "name: forms\ndata: rows.jsonl\nquestion: q\nchoices: opts\nanswer: key\ncontext: ctx\nid: uid\n"
        'prompt: "Case: {context}\\nQ: {question}\\n{options}"\n',
    )
    task = read_task_file(path)
    _, items = task.load()
    assert [i.answer for i in items] == [2, 1, 2, 0]  # an index, a letter, a choice's text, an index as text
    assert [i.id for i in items] == ["7", "8", "9", "10"] and items[0].context == "first passage\nsecond"
    assert task.with_context and task.choices is None and task.option_labels == ("A", "B", "C")
    assert mcq_prompt(items[1], task.with_context, task.prompt) == "Case: text\nQ: Two?\nA. a2\nB. b2\nC. c2"
    assert mcq_prompt(items[1], task.with_context) == "Abstract:\ntext\n\nQuestion: Two?\nA. a2\nB. b2\nC. c2"


def test_relative_paths_resolve_from_the_task_file_and_hub_ids_stay_ids(tmp_path, monkeypatch):
    write_jsonl(tmp_path / "data" / "questions.jsonl", medqa_rows(6))
    write(tmp_path / "tasks" / "medqa.yaml", MEDQA_YAML)
    monkeypatch.chdir(tmp_path / "data")  # where "../data/questions.jsonl" would be wrong
    assert read_task_file(Path("../tasks/medqa.yaml")).load()[0] == "file"
    hub = write(
        tmp_path / "tasks" / "hub.toml",
        'name = "hubbed"\nquestion = "question"\nchoices = "options"\nanswer = "answer_idx"\n'
        '[sources]\nhub = "GBaker/MedQA-USMLE-4-options"\nlocal = "../data/questions.jsonl"\n',
    )
    task = read_task_file(hub)
    assert [s.name for s in task.sources] == ["hub", "local"]
    assert task.sources[0].load.args[0] == "GBaker/MedQA-USMLE-4-options"  # a Hub id, not a path
    assert task.sources[1].load.args[0] == (tmp_path / "data" / "questions.jsonl").resolve()
    assert task.load("local")[0] == "local"
    missing = write(tmp_path / "tasks" / "missing.yaml", MEDQA_YAML.replace("../data/questions", "data/gone"))
    task = read_task_file(missing)  # "data/gone.jsonl" has a Hub id's shape, but names a table: it is a file
    assert [s.name for s in task.sources] == ["file"]
    with pytest.raises(MedtuiError, match=r"tasks/data/gone.jsonl: not found"):
        task.load("file")


def test_builtin_medqa_reads_its_offline_rows_through_the_same_declaration(tmp_path):
    """The built-in `medqa` declares its Hub and offline sources with the fields a MedQA task file names."""
    rows = medqa_rows(1273)
    write_jsonl(offline_rows("medqa"), rows)
    source, builtin = TASKS["medqa"].load("file")
    assert source == "file" and len(builtin) == 1273 and all(len(i.choices) == 4 for i in builtin)
    assert [i.answer for i in builtin[:5]] == [0, 1, 2, 3, 0]
    task = write(tmp_path / "mine.yaml", NO_SIZE.replace("../data/questions.jsonl", str(offline_rows("medqa"))))
    assert fingerprint(read_task_file(task).load()[1]) == fingerprint(builtin)


def test_headqa_declared_as_a_task_file_matches_the_builtin_reader(shared_data, tmp_path):
    """HEAD-QA's options are a mapping keyed "1".."4" and its answer a key: a task file reads the
    same questions and answer key as the built-in reader (which also leaves out image questions),
    and reading the answer's text instead of its key gives the same key."""
    data = shared_data / "headqa_en" / "test.jsonl"
    spec = f'name = "headqa_mine"\ndata = "{data}"\nquestion = "question"\nchoices = "options"\nsubject = "category"\n'
    by_key = read_task_file(write(tmp_path / "key.toml", spec + 'id = "id"\nanswer = "answer_id"\n')).load()[1]
    by_text = read_task_file(write(tmp_path / "text.toml", spec + 'id = "id"\nanswer = "answer"\n')).load()[1]
    builtin = sources.headqa(data)
    declared = {i.id: i for i in by_key}
    assert [declared[i.id] for i in builtin] == builtin
    assert [i.answer for i in by_text] == [i.answer for i in by_key]


def test_a_folder_of_task_files_via_config(tmp_path, medtui_home):
    write_jsonl(tmp_path / "tasks" / "questions.jsonl", medqa_rows(6))
    write(tmp_path / "tasks" / "medqa.yaml", MEDQA_YAML.replace("../data/", ""))
    write(
        tmp_path / "tasks" / "five.toml",
        'name = "five"\ndata = "questions5.jsonl"\nquestion = "question"\nchoices = "options"\nanswer = "answer_idx"\n',
    )
    write_jsonl(tmp_path / "tasks" / "questions5.jsonl", medqa_rows(5, "ABCDE"))
    write(tmp_path / "tasks" / "notes.md", "not a task file")
    assert [t.name for t in read_task_folder(tmp_path / "tasks")] == ["five", "my_medqa"]
    write(medtui_home / "config" / "config.toml", f'task_dir = "{tmp_path / "tasks"}"\n')

    listing = medtui("eval", "tasks")
    assert listing.returncode == 0, listing.stderr
    rows = {line.split("│")[1].strip(): line for line in listing.stdout.splitlines() if line.count("│") > 2}
    assert {"medqa", "headqa", "my_medqa", "five"} <= set(rows)
    assert str(tmp_path / "tasks" / "medqa.yaml") in rows["my_medqa"] and "built-in" in rows["medqa"]
    assert f"task folder: {tmp_path / 'tasks'}" in listing.stdout

    from medtui.core.config import load_settings

    known = known_tasks(load_settings().task_dir)
    assert known["five"].load()[1][0].choices[4] == "spleen 0-4" and known["five"].option_labels == tuple("ABCDE")
    unknown = medtui("eval", "run", "-t", "nope")
    assert unknown.returncode == 1 and "my_medqa" in unknown.stderr and "five" in unknown.stderr


BAD_FILES = [
    (
        "missing.toml",
        'name = "x"\ndata = "q.jsonl"\nquestion = "question"\nchoices = "options"\n',
        r"missing key 'answer'",
    ),
    (
        "unknown.yaml",
        MEDQA_YAML.replace("size: 6", "answers: answer_idx"),
        r"unknown key 'answers': the keys are name, question, choices, answer, description, data, sources, ",
    ),
    ("both.yaml", MEDQA_YAML + "sources: {hub: org/name}\n", r"give data \(one place\) or sources"),
    ("neither.yaml", MEDQA_YAML.replace("data: ../data/questions.jsonl\n", ""), r"missing key 'data'"),
    ("choices.yaml", MEDQA_YAML.replace("choices: options", "choices: [options]"), r"choices lists 1 fields"),
    ("size.yaml", MEDQA_YAML.replace("size: 6", "size: six"), r"size must be the number of questions"),
    ("name.yaml", MEDQA_YAML.replace("name: my_medqa", "name: my medqa"), r"name 'my medqa' may hold only"),
    ("yesno.yaml", MEDQA_YAML.replace("question: question", "question: yes"), r"question must be a non-empty text"),
    ("prompt.yaml", MEDQA_YAML + "prompt: '{question} {choices}'\n", r"prompt uses \{choices\}: the placeholders"),
    ("context.yaml", MEDQA_YAML + "prompt: '{context} {question} {options}'\n", r"no context key names its field"),
    ("broken.yaml", MEDQA_YAML + "choices: [\n", r":\d+: not valid YAML"),
    ("broken.toml", 'name = "x\n', r"not valid TOML"),
    ("list.yaml", "- name: x\n", r"holds keys and values .*, not a list"),
    ("task.json", "{}", r"not a task file: use .toml, .yaml or .yml"),
]


@pytest.mark.parametrize("name,text,message", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_a_bad_task_file_is_one_line_naming_the_file_and_key(tmp_path, name, text, message):
    path = write(tmp_path / name, text)
    with pytest.raises(MedtuiError, match=f"^{re.escape(str(path))}.*{message}") as error:
        read_task_file(path)
    assert "\n" not in str(error.value)


BAD_DATA = [
    (
        NO_SIZE.replace("question: question", "question: stem"),
        medqa_rows(2),
        r"question = 'stem' is not a field of .*questions.jsonl:1: use one of question, options, answer_idx$",
    ),
    (NO_SIZE, [*medqa_rows(1), {**medqa_rows(2)[1], "answer_idx": "E"}], r"answer: .*:2 has 'E', which is not one"),
    (NO_SIZE, [*medqa_rows(1), *medqa_rows(2, "ABCDE")[1:]], r"choices: .*:2 has 5 options where .*:1 has 4: every"),
    (NO_SIZE, [*medqa_rows(1), {**medqa_rows(1)[0], "options": "A. x B. y"}], r"choices = 'options' holds a str at"),
    (NO_SIZE, medqa_rows(1) * 2, r":2 repeats the question at .*:1"),
    (NO_SIZE, [{**medqa_rows(1)[0], "question": ""}], r"question: .*:1 has no question text"),
    (MEDQA_YAML, medqa_rows(4), r"^my_medqa: source file gave 4 questions, expected 6$"),
]


@pytest.mark.parametrize("text,rows,message", BAD_DATA)
def test_data_that_does_not_fit_its_task_file_is_one_line(tmp_path, text, rows, message):
    write_jsonl(tmp_path / "data" / "questions.jsonl", rows)
    path = write(tmp_path / "tasks" / "medqa.yaml", text)
    with pytest.raises(MedtuiError, match=message) as error:
        read_task_file(path).load()
    assert "\n" not in str(error.value)
    assert str(error.value).startswith(str(path)) or text == MEDQA_YAML  # the size is checked by the task, by name


def test_names_clash_in_one_line_and_the_cli_says_so(tmp_path):
    write_jsonl(tmp_path / "questions.jsonl", medqa_rows(6))
    first = write(tmp_path / "a" / "one.yaml", MEDQA_YAML.replace("../data/", "../"))
    second = write(tmp_path / "b" / "two.yaml", MEDQA_YAML.replace("../data/", "../"))
    write(tmp_path / "c" / "medqa.yaml", MEDQA_YAML.replace("my_medqa", "medqa"))
    group = write(tmp_path / "d" / "group.yaml", MEDQA_YAML.replace("my_medqa", "mmlu_medical"))
    with pytest.raises(MedtuiError, match=f"^{second}: name 'my_medqa' is taken by {first}: rename the task$"):
        known_tasks(str(tmp_path / "a"), [read_task_file(second)])
    assert "my_medqa" in known_tasks(str(tmp_path / "a"), [read_task_file(first)])  # the same file twice is one task
    with pytest.raises(MedtuiError, match="name 'medqa' is taken by a built-in benchmark"):
        known_tasks(str(tmp_path / "c"))
    with pytest.raises(MedtuiError, match="name 'mmlu_medical' is taken by a built-in benchmark"):
        known_tasks("", [read_task_file(group)])
    with pytest.raises(MedtuiError, match="task folder not found"):
        known_tasks(str(tmp_path / "nowhere"))
    bad = medtui("eval", "run", "--task-file", str(write(tmp_path / "bad.yaml", MEDQA_YAML + "answers: x\n")))
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines() == [
        f"medtui: error: {tmp_path / 'bad.yaml'}: unknown key 'answers': the keys are name, question, choices, "
        "answer, description, data, sources, split, subset, context, subject, id, size, prompt"
    ]


def test_the_readme_example_reads_as_documented(tmp_path):
    """The README's task file and MedQA-layout line, written out as the README shows them."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    example = readme.split("# my_medqa.yaml\n", 1)[1].split("```", 1)[0]
    line = readme.split("```json\n", 1)[1].split("\n```", 1)[0]
    write(tmp_path / "questions" / "test.jsonl", line + "\n")
    task = read_task_file(write(tmp_path / "my_medqa.yaml", example.replace("size: 1273", "size: 1")))
    (item,) = task.load()[1]
    assert task.name == "my_medqa" and item.choices[item.answer] == json.loads(line)["options"]["B"]


def test_a_prompt_template_reaches_the_model(tmp_path):
    """The task file's template is what the model is shown."""
    from types import SimpleNamespace

    from evals.runner import Mode, render_prompt

    write_jsonl(tmp_path / "data" / "questions.jsonl", medqa_rows(2))
    task = read_task_file(
        write(tmp_path / "tasks" / "t.yaml", NO_SIZE + "prompt: 'Exam item: {question}\\n{options}'\n")
    )
    chat = SimpleNamespace(render_chat=lambda messages: "\n".join(m["content"] for m in messages))  # no template
    assert "Exam item: Question 0" in render_prompt(chat, task, task.load()[1][0], Mode.LOGLIK)
