"""One test per labeling function: what it votes on, and what it must leave alone.

Tweets are called the way Snorkel's appliers call LFs: one data point with a ``text`` attribute.
Several examples are real tweets of the seed data (shortened).
"""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest
from snorkel.labeling import LabelingFunction

from assets.tweets import labeling_functions as lfs
from assets.tweets.labeling_functions import ABSTAIN, AI, OTHER


def vote(lf: LabelingFunction, text: str | None) -> int:
    return lf(SimpleNamespace(text=text))


def votes(lf: LabelingFunction, texts: list[str]) -> list[int]:
    return [vote(lf, t) for t in texts]


def test_label_values_and_lf_sets() -> None:
    assert (ABSTAIN, OTHER, AI) == (-1, 0, 1)
    names = [lf.name for lf in lfs.RULE_LFS]
    assert len(names) == len(set(names)) and all(n.startswith("lf_") for n in names)
    assert not set(lfs.RULE_LFS) & set(lfs.REJECTED_LFS)
    for lf in (*lfs.RULE_LFS, *lfs.REJECTED_LFS):  # robust to missing text
        assert vote(lf, None) in (ABSTAIN, OTHER) and vote(lf, "") in (ABSTAIN, OTHER)
    # A pandas row works too (that is what PandasLFApplier passes).
    row = pd.DataFrame({"text": ["Deep learning for knee x-rays"]}).iloc[0]
    assert lfs.lf_ai_phrases(row) == AI


def test_plain_text_and_hashtags() -> None:
    text = "Deep learning &amp; #AI https://t.co/AIxMLx #MachineLearning"
    assert lfs.plain_text(text) == "deep learning & #ai   #machinelearning"
    assert lfs.hashtags(text) == {"ai", "machinelearning"}


def test_lf_ai_phrases() -> None:
    assert (
        votes(
            lfs.lf_ai_phrases,
            [
                "Army Capitalizing on Machine Learning",
                "what we've done with AlphaGo is introduce with the neural networks this aspect of intuition",
                "I went through past projects brushing up on my data science skills",
                "Artificial-intelligence and computer vision for knee x-rays",
            ],
        )
        == [AI] * 4
    )
    assert (
        votes(
            lfs.lf_ai_phrases,
            [
                "#MachineLearning #DeepLearning #AI",  # hashtags are the hashtag LF's business
                "learning about machines in a deep way",  # the words, not the phrase
                "Read this https://t.co/machinelearning",  # links never match
            ],
        )
        == [ABSTAIN] * 3
    )


def test_lf_ai_hashtags() -> None:
    assert vote(lfs.lf_ai_hashtags, "Connecting the Dots! #startup #growth #machinelearning #ai") == AI
    assert vote(lfs.lf_ai_hashtags, "#DataScience #python Notebooks #BigData") == AI
    assert (
        vote(lfs.lf_ai_hashtags, "Bitcoin surges amid high volatility #instabtc #cryptonews #IoT #AI")
        == ABSTAIN
    )
    assert vote(lfs.lf_ai_hashtags, "machine learning and AI, no hashtags") == ABSTAIN


def test_lf_ml_tools() -> None:
    assert (
        votes(
            lfs.lf_ml_tools,
            [
                "You would need the model in keras or caffe, then convert it to CoreML",
                "Apples and Oranges https://t.co/x #imagerecognition #tensorflow",
                "There's a metadata csv file on the kaggle site",
                "Scikit-learn 0.23 is out",
            ],
        )
        == [AI] * 4
    )
    assert (
        votes(lfs.lf_ml_tools, ["I love pandas at the zoo", "numbers are hard", "torch the place"])
        == [ABSTAIN] * 3
    )


def test_lf_data_roles() -> None:
    assert (
        votes(
            lfs.lf_data_roles,
            [
                "Use AI and data analytics which our journos wanted to make fun of",
                "Hiring: data engineers for our data pipelines",
                "You can become what you want => Data Scientist",
            ],
        )
        == [AI] * 3
    )
    assert (
        votes(lfs.lf_data_roles, ["Satellite data indicates air pollution is down", "data data data"])
        == [ABSTAIN] * 2
    )


def test_lf_learning_not_ml() -> None:
    assert (
        votes(
            lfs.lf_learning_not_ml,
            [
                "Good morning! I hope you're ready for another great day of V-Learning at home learning!",
                "First day of distance learning with the morning announcements",
                "Teachers, we are all navigating a new learning curve",
            ],
        )
        == [OTHER] * 3
    )
    assert (
        vote(lfs.lf_learning_not_ml, "Online learning: a free machine learning course for teachers")
        == ABSTAIN
    )
    assert vote(lfs.lf_learning_not_ml, "Distance learning resources #AI #edtech") == ABSTAIN
    assert vote(lfs.lf_learning_not_ml, "I am learning to bake") == ABSTAIN


def test_lf_everyday_senses() -> None:
    assert (
        votes(
            lfs.lf_everyday_senses,
            [
                "Trump fires the intelligence community inspector general",
                "She is my role model",
                "The deep state strikes again",
                "Open Door - Mike Shinoda feat. Ai Mori #SingOpenDoor",
                "Won big on the slot machines",
            ],
        )
        == [OTHER] * 5
    )
    assert vote(lfs.lf_everyday_senses, "Role model for responsible artificial intelligence") == ABSTAIN
    assert vote(lfs.lf_everyday_senses, "Intelligence is overrated") == ABSTAIN


def test_lf_pandemic_science() -> None:
    assert (
        votes(
            lfs.lf_pandemic_science,
            [
                "Trials take time, gathering data takes time, science takes time. Trump said immediately.",
                "The models say coronavirus deaths will peak in two weeks",
                "Look at Germany's statistics on COVID-19 cases",
            ],
        )
        == [OTHER] * 3
    )
    assert vote(lfs.lf_pandemic_science, "You can help AI predict the spread of coronavirus") == ABSTAIN
    assert vote(lfs.lf_pandemic_science, "Machine learning models detect COVID-19 in x-rays") == ABSTAIN
    assert (
        vote(lfs.lf_pandemic_science, "Stay home, the pandemic is not over") == ABSTAIN
    )  # no ambiguous term


def test_lf_spam_hashtags() -> None:
    assert (
        votes(
            lfs.lf_spam_hashtags,
            [
                "Lead Developer [ https://t.co/x ] #jobs #Hiring #ETH #BTC #AI #ArtificialIntelligence",
                "#facebook's #libra could #castrate #central #banks #instabtc #blockchain #IoT #AI",
            ],
        )
        == [OTHER] * 2
    )
    assert vote(lfs.lf_spam_hashtags, "Hiring a machine learning engineer #jobs #hiring") == ABSTAIN
    # Trading bots are not treated as spam: annotators label them AI.
    assert vote(lfs.lf_spam_hashtags, "The bot WOLFIE has earned $644 #bitcoin #ai") == ABSTAIN


def test_lf_no_tech_vocabulary() -> None:
    assert (
        votes(
            lfs.lf_no_tech_vocabulary,
            [
                "Disgraceful!",
                "@flyjibs Got my big girl panties on...SO BRING IT ALL ON!",
                "Lovely walk by the sea",
            ],
        )
        == [OTHER] * 3
    )
    assert (
        votes(
            lfs.lf_no_tech_vocabulary,
            ["our new app", "#AI", "Data is the new oil", "Robots!", "learning to code in Python"],
        )
        == [ABSTAIN] * 5
    )


def test_lf_ai_acronym_rejected() -> None:
    assert vote(lfs.lf_ai_acronym, "If we have to lockdown, use AI and data analytics") == AI
    assert vote(lfs.lf_ai_acronym, "AI-driven identity") == AI
    assert (
        votes(
            lfs.lf_ai_acronym,
            ["#AI is here", "Mike Shinoda feat. Ai Mori", "AI's role", "said the RAID admin"],
        )
        == [ABSTAIN] * 4
    )


def test_lf_model_building_rejected() -> None:
    assert (
        votes(
            lfs.lf_model_building,
            [
                "Training ML models for detection could be one of many uses",
                "YOLOv3, a state-of-the-art object detection algorithm",
                "we trained a neural network on it",
            ],
        )
        == [AI] * 3
    )
    assert vote(lfs.lf_model_building, "She trained the team and built a model railway") == ABSTAIN


@pytest.fixture(scope="module")
def cluster_data() -> tuple[list[str], list[str], list[int]]:
    """Two clear topics and a mixed one: AI tweets, cooking tweets, and football tweets of both labels
    (as k-means would put a topic the annotators split)."""
    ai = [
        f"deep learning neural network model training gpu {w}"
        for w in ("fast", "big", "new", "cheap", "open")
    ]
    food = [f"pasta recipe tomato basil dinner {w}" for w in ("tonight", "easy", "quick", "vegan", "family")]
    ball = [f"football match goal referee stadium {w}" for w in ("today", "live", "final", "derby", "cup")]
    texts = ai * 4 + food * 4 + ball * 4
    dev_texts = ai[:4] + food[:4] + ball[:4]
    dev_labels = [AI] * 4 + [OTHER] * 4 + [AI, OTHER, OTHER, OTHER]
    return texts, dev_texts, dev_labels


def test_lf_cluster(cluster_data) -> None:
    texts, dev_texts, dev_labels = cluster_data
    lf = lfs.make_cluster_lf(texts, dev_texts, dev_labels, seed=0, n_clusters=3, min_dev=3)
    assert lf.name == "lf_cluster"
    assert vote(lf, "deep learning neural network on a gpu") == AI  # unseen text, AI cluster
    assert vote(lf, "easy pasta with tomato for dinner") == OTHER
    assert vote(lf, "football derby at the stadium") == ABSTAIN  # 1 in 4 AI on dev: neither rule
    # Too few dev tweets in a cluster: abstain rather than guess.
    sparse = lfs.make_cluster_lf(texts, dev_texts[:2] + dev_texts[4:6], [AI, AI, OTHER, OTHER], n_clusters=3)
    assert vote(sparse, "deep learning neural network on a gpu") == ABSTAIN
    # Deterministic for a seed.
    again = lfs.make_cluster_lf(texts, dev_texts, dev_labels, seed=0, n_clusters=3, min_dev=3)
    assert votes(again, texts) == votes(lf, texts)
