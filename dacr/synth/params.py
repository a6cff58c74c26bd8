"""The generator's fixed parameters: vocabularies, per-model and per-family text parameters."""

from __future__ import annotations

CHARS_PER_TOKEN = 4.0
"""Characters of list-element text per token used to turn lengths into token counts."""

TEST_MATCH = "test-match"
FORMATS = ("wide", "long")

# One random stream per purpose: changing how responses are drawn leaves scores untouched.
_STREAM_EVAL, _STREAM_ROWS, _STREAM_LATENT, _STREAM_PROMPT = 0, 1, 2, 3
_STREAM_SCORES, _STREAM_RESPONSES, _STREAM_BANK = 4, 5, 6

_SENTINEL = "\x1f"  # never in the vocabularies; splits one big join back into strings
_MC_FAMILIES = ("mmlu", "hellaswag", "arc-challenge", "winogrande")
_VAL_SPLIT_FAMILIES = _MC_FAMILIES  # HF-style sets use `val`, OpenAI-evals-style sets `dev`
_CALIB_GROUPS = ("mc", "gsm", "mbpp", "rest")
_GSM_EDGE_PROB = 0.03  # chance that a GSM8K 0.25 drops to 0 or a 0.75 rises to 1

_FILLER = (
    "the", "of", "and", "a", "to", "in", "is", "that", "for", "with", "as", "on", "was",
    "which", "by", "this", "are", "from", "at", "an", "be", "has", "have", "it", "its", "their",
    "his", "her", "they", "what", "most", "following", "after", "before", "each", "some", "all",
    "more", "than", "when", "about", "into", "one", "two", "three", "new", "over", "only", "also",
    "other", "between", "during", "both", "these", "those", "such", "would", "could", "should",
    "will", "not", "but", "there", "then", "while", "because", "under", "within", "without",
    "through", "many", "several", "given", "based", "likely", "best",
)  # fmt: skip
_FAMILY_WORDS: dict[str, tuple[str, ...]] = {
    "mmlu": (
        "theory", "principle", "concept", "statement", "argument", "process", "structure",
        "function", "system", "evidence", "effect", "factor", "example", "definition",
        "approach", "model", "result", "analysis", "relationship", "property", "condition",
        "method", "period", "society", "individual", "response", "role", "value", "level",
        "change", "development", "study",
    ),
    "hellaswag": (
        "man", "woman", "person", "boy", "girl", "people", "kitchen", "water", "ball", "camera",
        "floor", "table", "shows", "holding", "standing", "walking", "begins", "continues",
        "talking", "wearing", "using", "room", "outside", "car", "dog", "hair", "hands", "front",
        "shown", "team", "field", "brush", "bike", "rope", "paint", "step", "title", "header",
    ),
    "grade-school-math": (
        "apples", "dollars", "cents", "hours", "minutes", "days", "week", "students", "books",
        "cookies", "miles", "boxes", "tickets", "pounds", "friends", "store", "bought", "sold",
        "spent", "earned", "costs", "total", "left", "times", "half", "many", "much", "how",
        "does", "did", "had", "gives", "shares", "buys",
    ),
    "arc-challenge": (
        "plants", "animals", "energy", "water", "rock", "earth", "sun", "heat", "light",
        "weather", "soil", "cells", "students", "experiment", "observe", "temperature",
        "gravity", "magnet", "food", "chain", "fossil", "moon", "season", "mineral", "organism",
        "force", "motion", "air", "habitat", "cloud",
    ),
    "winogrande": (
        "too", "so", "wanted", "decided", "tried", "better", "bigger", "smaller", "easier",
        "Sarah", "John", "Maria", "Kevin", "Emily", "Robert", "Jessica", "Michael", "Amy",
        "Brian", "Laura", "Derrick", "house", "dress", "job", "class", "dinner", "test",
    ),
    "mbpp": (
        "function", "find", "list", "string", "number", "elements", "check", "whether", "tuple",
        "array", "sum", "count", "maximum", "minimum", "remove", "characters", "words", "sort",
        "dictionary", "integers", "convert", "pairs", "first", "last", "element", "index",
        "sequence", "digits", "substring", "nested",
    ),
    "mtbench": (
        "write", "essay", "blog", "post", "story", "explain", "describe", "compose",
        "persuasive", "travel", "email", "poem", "character", "dialogue", "product", "review",
        "short", "paragraph", "audience", "tone", "style", "engaging", "draft", "plan", "argue",
    ),
    "chinese": (
        "chinese", "dynasty", "poem", "poet", "ancient", "character", "riddle", "year", "zodiac",
        "animal", "idiom", "meaning", "verse", "lantern", "translate", "classic", "novel",
        "author", "song", "tang", "traditional", "festival", "rabbit", "dragon", "tiger", "ox",
        "horse", "emperor", "couplet",
    ),
    "other": (
        "study", "results", "method", "propose", "data", "model", "performance", "approach",
        "paper", "analysis", "experiments", "show", "significant", "framework", "novel",
        "evaluate", "statements", "consensus", "summary", "bias", "text", "audit", "account",
        "ledger", "entries", "balance", "revenue", "report", "participants", "findings",
    ),
    TEST_MATCH: (
        "once", "upon", "time", "quick", "brown", "fox", "jumps", "lazy", "dog", "apple", "day",
        "keeps", "doctor", "away",
    ),
}  # fmt: skip
_SKILL_GROUPS = ("code", "math", "chinese", "law", "science")
_SKILL_WORDS: dict[str, tuple[str, ...]] = {
    "code": (
        "python", "recursion", "algorithm", "compile", "variable", "loop", "pointer", "binary",
        "boolean", "regex", "lambda", "iterator", "bitwise", "hashmap", "stack", "queue",
        "runtime", "syntax",
    ),
    "math": (
        "equation", "percent", "ratio", "fraction", "integral", "derivative", "probability",
        "polynomial", "theorem", "remainder", "average", "proportion", "quotient", "logarithm",
        "geometric", "exponent", "parabola", "variance",
    ),
    "chinese": (
        "pinyin", "confucius", "hanzi", "mandarin", "calligraphy", "qing", "ming", "han",
        "shijing", "chuci", "tangshi", "songci", "chengyu", "lunar",
    ),
    "law": (
        "statute", "plaintiff", "defendant", "contract", "liability", "tort", "precedent",
        "constitutional", "jurisdiction", "ethics", "moral", "testimony", "negligence",
        "verdict", "amendment", "treaty", "sovereignty", "duty",
    ),
    "science": (
        "molecule", "protein", "enzyme", "neuron", "bacteria", "velocity", "electron",
        "photosynthesis", "chromosome", "catalyst", "isotope", "genome", "vaccine", "tissue",
        "orbit", "quantum", "compound", "membrane",
    ),
}  # fmt: skip
# Substrings of eval names that make a skill group likely (probability _SKILL_PROB_MATCH).
_SKILL_KEYWORDS: dict[str, tuple[str, ...]] = {
    "code": ("computer", "machine-learning", "mbpp", "security", "electrical"),
    "math": (
        "math", "algebra", "statistics", "physics", "econometrics", "remainder", "accounting",
        "grade-school",
    ),
    "chinese": ("chinese",),
    "law": (
        "law", "moral", "jurisprudence", "philosophy", "history", "politics", "religions",
        "ethics", "policy", "logic", "fallacies", "bias", "sociology",
    ),
    "science": (
        "biology", "chemistry", "medicine", "medical", "anatomy", "clinical", "nutrition",
        "virology", "genetics", "aging", "astronomy", "physics", "arc-challenge",
    ),
}  # fmt: skip
_SKILL_PROB_BASE, _SKILL_PROB_MATCH = 0.08, 0.7
_SKILL_PROB_CORE = {"mbpp": "code", "grade-school-math": "math", "chinese": "chinese"}
_HARD_MARKERS = (
    "rigorously", "nontrivial", "multistep", "counterintuitive", "simultaneously",
    "notwithstanding", "asymptotically", "intricate", "ambiguous", "exceptional",
)  # fmt: skip
_EASY_MARKERS = (
    "simple", "basic", "obvious", "directly", "familiar", "everyday", "straightforward", "plainly",
)  # fmt: skip
_NUMBERS = tuple(str(k) for k in range(2, 100))
# Discrimination on the shared difficulty: strong models separate easy from hard prompts more.
_BETA = {
    "WizardLM/WizardLM-13B-V1.2": 1.1, "claude-instant-v1": 1.3, "claude-v1": 1.4,
    "claude-v2": 1.4, "gpt-3.5-turbo-1106": 1.3, "gpt-4-1106-preview": 1.6,
    "meta/code-llama-instruct-34b-chat": 0.9, "meta/llama-2-70b-chat": 1.0,
    "mistralai/mistral-7b-chat": 1.0, "mistralai/mixtral-8x7b-chat": 1.3,
    "zero-one-ai/Yi-34B-Chat": 1.3,
}  # fmt: skip
# Logit shift when a prompt is on a skill group's topic (code, math, chinese, law, science).
_GAMMA = {
    "WizardLM/WizardLM-13B-V1.2": (-0.3, -0.1, -0.5, -0.1, 0.0),
    "claude-instant-v1": (0.1, 0.2, 0.0, 0.3, 0.2),
    "claude-v1": (0.0, 0.2, 0.0, 0.5, 0.3),
    "claude-v2": (0.2, 0.3, 0.0, 0.5, 0.3),
    "gpt-3.5-turbo-1106": (0.5, 0.2, 0.0, 0.0, 0.1),
    "gpt-4-1106-preview": (0.5, 0.5, 0.3, 0.4, 0.3),
    "meta/code-llama-instruct-34b-chat": (1.2, 0.0, -0.6, -0.5, -0.3),
    "meta/llama-2-70b-chat": (-0.5, -0.3, -0.6, 0.2, 0.1),
    "mistralai/mistral-7b-chat": (-0.2, -0.3, -0.6, -0.2, -0.1),
    "mistralai/mixtral-8x7b-chat": (0.3, 0.1, -0.2, 0.0, 0.1),
    "zero-one-ai/Yi-34B-Chat": (-0.2, 0.0, 1.0, 0.2, 0.2),
}
# Multiple-choice answer style: P(leading newline), P(trailing ")"), P(no letter when wrong).
_MC_STYLE = {
    "WizardLM/WizardLM-13B-V1.2": (0.5, 0.4, 0.2), "claude-instant-v1": (0.0, 0.0, 0.0),
    "claude-v1": (0.0, 0.0, 0.0), "claude-v2": (0.0, 0.0, 0.0),
    "gpt-3.5-turbo-1106": (0.0, 0.5, 0.0), "gpt-4-1106-preview": (0.0, 0.0, 0.0),
    "meta/code-llama-instruct-34b-chat": (0.2, 0.5, 0.5), "meta/llama-2-70b-chat": (0.1, 0.1, 0.5),
    "mistralai/mistral-7b-chat": (0.5, 0.5, 0.1), "mistralai/mixtral-8x7b-chat": (0.0, 0.8, 0.0),
    "zero-one-ai/Yi-34B-Chat": (0.1, 0.3, 0.05),
}  # fmt: skip
_OPENER = {
    "WizardLM/WizardLM-13B-V1.2": "", "claude-instant-v1": "Here is ", "claude-v1": "Here's ",
    "claude-v2": "Here is ", "gpt-3.5-turbo-1106": "", "gpt-4-1106-preview": "Certainly! ",
    "meta/code-llama-instruct-34b-chat": " ", "meta/llama-2-70b-chat": " Sure! ",
    "mistralai/mistral-7b-chat": "", "mistralai/mixtral-8x7b-chat": "",
    "zero-one-ai/Yi-34B-Chat": "\n",
}  # fmt: skip
# Logit offset of a family inside its calibration group (e.g. ARC easier than Winogrande).
_FAMILY_DELTA = {
    "mmlu": 0.0, "hellaswag": 0.3, "arc-challenge": 0.6, "winogrande": -0.4,
    "grade-school-math": 0.0, "mbpp": 0.0, "mtbench": 0.8, "chinese": -0.6, "other": 0.4,
    TEST_MATCH: 2.5,
}  # fmt: skip
# Mean body words; (choices or extra list elements, mean words each); numbers in the body.
_PROMPT_WORDS = {
    "mmlu": 40, "hellaswag": 66, "grade-school-math": 78, "arc-challenge": 32, "winogrande": 22,
    "mbpp": 6, "mtbench": 70, "chinese": 60, "other": 190, TEST_MATCH: 3,
}  # fmt: skip
_PROMPT_WORDS_MULT = {
    "mmlu-professional-law": 4.0, "mmlu-high-school-european-history": 7.0,
    "mmlu-high-school-us-history": 6.0, "mmlu-high-school-world-history": 6.0,
    "mmlu-security-studies": 2.5, "mmlu-moral-scenarios": 1.6, "abstract2title": 1.4,
    "consensus_summary": 1.4, "bias_detection": 0.25, "accounting_audit": 0.7,
    "chinese_zodiac": 0.9, "mtbench-math": 0.6,
}  # fmt: skip
_OPTIONS = {
    "mmlu": (4, 5), "hellaswag": (4, 16), "arc-challenge": (4, 4), "winogrande": (2, 1),
    "chinese": (1, 4), TEST_MATCH: (1, 3),
}  # fmt: skip
_NUMBERS_IN_PROMPT = {"grade-school-math": 6, "mtbench-math": 3, "chinese-remainder-theorem": 4}
# Response kind and mean characters (before the per-model factor) for non-lettered answers.
_RESPONSE = {
    "grade-school-math": ("math", 584), "mbpp": ("code", 910), "mtbench": ("prose", 1200),
    "chinese": ("prose", 60), "other": ("prose", 300), TEST_MATCH: ("short", 6),
}  # fmt: skip
_RESPONSE_EVAL = {
    "mtbench-math": ("math", 900), "abstract2title": ("prose", 90),
    "consensus_summary": ("prose", 500), "bias_detection": ("short", 12),
    "chinese_zodiac": ("short", 20), "chinese-remainder-theorem": ("math", 300),
}  # fmt: skip
_RESPONSE_KINDS = ("letter", "math", "code", "prose", "short")
_MC_LETTER_TOKENS = 1.2  # mean tokens of a lettered answer, used to size the long answers
_OTHER_PREFIX = {
    "abstract2title": "Write a title for the following abstract.\n\n",
    "consensus_summary": "Summarize the consensus of the following statements.\n\n",
    "bias_detection": "Does the following text contain bias? Answer yes or no.\n\n",
    "accounting_audit": "Audit the following accounting entries and report any error.\n\n",
}
_MC_INSTRUCTION = 'Print only a single choice  from "A" or "B" or "C" or "D" without explanation.'
_WINO_INSTRUCTION = 'Print only a single choice  from "A" or "B" without explanation.'
