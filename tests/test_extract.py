"""Answer extraction in generate mode, table-driven: each row is a realistic model output and the
option a careful reader would take from it (None: no answer can be read, counted as invalid)."""

import pytest

from evals.extract import extract_choice

DRUGS = ("Aspirin", "Heparin", "Warfarin", "Clopidogrel")
YES_NO_MAYBE = ("yes", "no", "maybe")
A, B, C, D = range(4)
YES, NO, MAYBE = range(3)

MCQ = [
    # the "Answer: X" line the prompt asks for, in its common spellings
    ("<think>A is tempting, but B fails too. So C.</think>\nAnswer: C", C),
    ("The options A and B are wrong because...\n</think>\n\nAnswer: D", D),  # opening tag in the prompt
    ("**Answer:** A", A),
    ("Final answer: c", C),
    ("ANSWER: B", B),
    ("Answer - B", B),
    ("Answer — D", D),
    ("Answer: (C) Warfarin", C),
    ("Answer: **C**", C),
    ("Answer: [D]", D),
    ("Answer: Option C", C),
    ("Answer: I think C", C),
    ("Answer:\nB", B),
    ("Answer: C. Warfarin", C),
    ("Answer: Warfarin", C),  # the option's text after the answer line
    # closing phrases
    ("<think>Consider A. Consider B.</think>The answer is (b).", B),
    ("After weighing them, the correct option is D.", D),
    ("The correct answer is: C", C),
    ("So, the answer would be B.", B),
    ("My final answer is D", D),
    ("The best choice is A because it is irreversible.", A),
    ("I would choose B.", B),
    ("I'd go with D.", D),
    ("I choose option C", C),
    ("Therefore, C is the correct answer.", C),
    ("Option D is correct.", D),
    ("The final answer is $\\boxed{C}$.", C),
    ("\\boxed{C}", C),
    ("\\boxed{\\text{B}}", B),
    ('{"step_by_step_thinking": "Heparin acts fast, so A is wrong.", "answer_choice": "C"}', C),
    ('```json\n{"answer": "B"}\n```', B),
    # the last explicit statement wins: models correct themselves
    ("Answer: A\nWait, aspirin is antiplatelet. Actually the answer is B.", B),
    ("The answer is C. Option D is wrong because it is a prodrug.", C),
    ("Answer: The correct answer is B", B),
    ("Answer: C\nOption B is the best known of them, but it acts too slowly.", C),
    ("Therefore, D is the best answer.", D),
    # a line that is only a letter, or a reply that opens with one
    ("**B**", B),
    ("Option B", B),
    ("Reasoning about each option...\n\n**D**", D),
    ("(C)", C),
    ("C", C),
    ("C.", C),
    ("B. Heparin", B),
    ("C) Warfarin, because of its long half-life.", C),
    ("<think>A? B? Answer: A</think>\nWarfarin is the drug of choice.", C),  # only after </think>; one option named
    # no answer: invalid, never guessed
    ("<think>Maybe A.</think>", None),  # nothing after the reasoning
    ("<think>I keep thinking about A and B and never finish", None),  # cut off inside the reasoning
    ("<think>So the answer is B, surely", None),  # an answer inside unfinished reasoning does not count
    ("A patient like this needs anticoagulation.", None),  # a capital A that is not an answer
    ("Either Aspirin or Heparin would do.", None),  # two options named
    ("A. Aspirin\nB. Heparin\nC. Warfarin\nD. Clopidogrel", None),  # the options echoed, none chosen
    ("The answer is a drug that thins the blood.", None),  # the article "a"
    ("The best choice is a low-dose regimen", None),
    ("The answer is not A.", None),
    ("I would not choose A.", None),
    ("Vitamin A is the best known antioxidant here.", None),
    ("", None),
]

PUBMEDQA = [
    ("Answer: A", YES),
    ("Answer: yes", YES),
    ("The answer is maybe.", MAYBE),
    ("Yes.", YES),
    ("No, the trial found no difference.", NO),
    ("**No**", NO),
    ("Based on the abstract, the answer is no.", NO),
    ('{"answer_choice": "B"}', NO),
    ("It is not clear from the abstract.", None),  # "no" inside "not"
    ("I don't know.", None),  # "no" inside "know"
    ("The study cannot determine this.", None),  # "no" inside "cannot"
    ("Yes, but maybe not in all patients.", None),  # two options named
    ("Notably, the outcome was unchanged.", None),
]


@pytest.mark.parametrize("text,expected", MCQ)
def test_multiple_choice(text, expected):
    assert extract_choice(text, DRUGS) == expected


@pytest.mark.parametrize("text,expected", PUBMEDQA)
def test_yes_no_maybe(text, expected):
    assert extract_choice(text, YES_NO_MAYBE) == expected


def test_a_letter_beyond_the_options_is_invalid():
    assert extract_choice("Answer: E", DRUGS) is None
    assert extract_choice("Answer: C", ("yes", "no")) is None
