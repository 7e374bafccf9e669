"""The evaluation tasks' building blocks (egogen.models.textmotion, the wrist features): caption
metrics on known strings, retrieval accuracy and its chance level, the contrastive motion-text
model, the wrist features of 3-point tracking. No dataset, no trained run: seconds."""

import numpy as np
import pytest
import torch

from egogen.models.features import camera_window_features, wrist_errors, wrist_window_features
from egogen.models.textmotion import (batch_retrieval, bleu4, info_nce, retrieval_accuracy, retrieval_chance, rouge_l,
                                      same_text, train_motion_text_model)
from egogen.rotations import aa_to_mat

torch.set_num_threads(1)


# ----------------------------------------------------------------------------- caption metrics


def test_bleu4_and_rouge_l_are_one_for_identical_captions_and_zero_for_disjoint_ones():
    refs = ["walk through the living room", "you pass a person standing near the tv stand"]
    assert bleu4(refs, refs) == pytest.approx(1.0)
    assert rouge_l(refs, refs) == pytest.approx(1.0)
    other = ["sit down quietly", "open one kitchen drawer slowly now"]
    assert bleu4(other, refs) == 0.0
    assert rouge_l(other, refs) == 0.0
    # in between: one word changed out of five
    hyp = ["walk through the dining room", "you pass a person standing near the tv stand"]
    assert 0.0 < bleu4(hyp, refs) < 1.0
    # ROUGE-L by hand: LCS "walk to the sofa" = 4 words, precision 4 / 5, recall 4 / 4
    assert rouge_l(["walk to the kitchen sofa"], ["walk to the sofa"]) == pytest.approx(2 * 0.8 / 1.8)
    with pytest.raises(ValueError):
        bleu4(["a"], ["a", "b"])
    with pytest.raises(ValueError):
        rouge_l([], [])


# ----------------------------------------------------------------------------- retrieval


def test_retrieval_accuracy_of_a_perfect_embedding_is_one_and_of_a_reversed_one_is_zero():
    G = 32
    e = torch.eye(G)
    right = torch.arange(G)
    acc = retrieval_accuracy(e @ e.T, right)
    assert set(acc) == {"top1", "top5"} and acc["top1"].shape == (G,)
    assert float(acc["top1"].mean()) == 1.0 and float(acc["top5"].mean()) == 1.0
    # every query prefers every wrong caption to its own: never right in the top 5
    acc = retrieval_accuracy(-(e @ e.T), right)
    assert float(acc["top1"].mean()) == 0.0 and float(acc["top5"].mean()) == 0.0
    assert retrieval_chance(G) == {"top1": 1 / G, "top5": 5 / G} and retrieval_chance(3)["top5"] == 1.0
    # a random embedding is near chance over many batches
    g = torch.Generator().manual_seed(0)
    hits = [retrieval_accuracy(torch.randn(G, G, generator=g), right)["top5"].mean() for _ in range(200)]
    assert float(torch.stack(hits).mean()) == pytest.approx(5 / G, abs=0.02)


def test_batch_retrieval_ranks_the_distinct_captions_of_a_batch():
    texts = ["a", "a", "b", "c", "b"]
    same = same_text(texts)
    assert same[0].tolist() == [True, True, False, False, False] and same[2].tolist() == [False, False, True, False,
                                                                                         True]
    # a perfect embedding: one direction per caption, shared by motion and text
    basis = {"a": [1.0, 0, 0], "b": [0, 1.0, 0], "c": [0, 0, 1.0]}
    emb = torch.tensor([basis[t] for t in texts])
    hits, chance, n = batch_retrieval(emb, emb, texts, ks=(1, 2))
    assert n == 3 and hits["top1"].tolist() == [1.0] * 5 and chance == {"top1": 1 / 3, "top2": 2 / 3}
    # motions that all look like "c": only the "c" window is right at top 1; at top 2 the second-ranked caption
    # ("a", first of the tied ones) is right as well
    motion = torch.tensor([[0.1, 0.0, 1.0]] * 5)
    hits, _, _ = batch_retrieval(motion, emb, texts, ks=(1, 2))
    assert hits["top1"].tolist() == [0.0, 0.0, 0.0, 1.0, 0.0]
    assert hits["top2"].tolist() == [1.0, 1.0, 0.0, 1.0, 0.0]


def test_info_nce_is_low_for_aligned_embeddings_and_the_contrastive_model_learns_to_retrieve():
    e = torch.nn.functional.normalize(torch.randn(8, 16), dim=-1)
    pos = torch.eye(8, dtype=torch.bool)
    aligned = info_nce(e, e, torch.tensor(20.0), pos)
    shuffled = info_nce(e, e[torch.roll(torch.arange(8), 1)], torch.tensor(20.0), pos)
    assert float(aligned) < float(shuffled)
    # synthetic pairs: 6 captions, each with its own motion token pattern (plus noise tokens)
    g = torch.Generator().manual_seed(0)
    cls = torch.randint(0, 6, (300,), generator=g)
    motion = torch.randint(0, 16, (300, 12), generator=g)
    motion[:, :4] = cls[:, None] * 2 + torch.arange(4) % 2  # the class shows in the first 4 tokens
    text = torch.zeros(300, 5, dtype=torch.long)
    text[:, 0], text[:, 1], text[:, 2] = 10 + cls, 20 + cls % 2, 2  # two words then <eos>, pad 0
    texts = [f"caption {int(c)}" for c in cls]
    args = dict(motion_vocab=16, motion_codebooks=2, motion_tokens=12, text_vocab=32, text_tokens=5, pad_id=0,
                dim=32)
    model, losses = train_motion_text_model(motion[:240], text[:240], texts[:240], args, steps=120, batch_size=48,
                                            lr=3e-3, seed=0)
    assert losses[-1] < losses[0]
    hits, chance, n = batch_retrieval(model.encode_motion(motion[240:272]).detach(),
                                      model.encode_text(text[240:272]).detach(), texts[240:272])
    assert n == 6 and float(hits["top1"].mean()) > 0.9 > chance["top1"]
    # same seed, same model
    model2, losses2 = train_motion_text_model(motion[:240], text[:240], texts[:240], args, steps=120, batch_size=48,
                                              lr=3e-3, seed=0)
    assert losses2 == losses


# ----------------------------------------------------------------------------- 3-point features


def _poses(rng, n):
    T = np.tile(np.eye(4), (n, 1, 1))
    T[:, :3, :3] = aa_to_mat(rng.normal(size=(n, 3)))
    T[:, :3, 3] = rng.normal(size=(n, 3))
    return T


def test_wrist_features_are_the_wrists_relative_to_the_first_head_frame_and_rigid_motion_invariant():
    rng = np.random.default_rng(0)
    N, L = 3, 60
    T = _poses(rng, N * L * 3).reshape(N, L, 3, 4, 4)
    f = wrist_window_features(T).double()
    assert f.shape == (N, L, 18) and f.dtype == torch.float64
    # each wrist as the camera features would give it with the first head frame prepended
    for k, part in ((1, slice(0, 9)), (2, slice(9, 18))):
        seq = np.concatenate([T[:, :1, 0], T[:, :, k]], axis=1)
        np.testing.assert_allclose(f[..., part].numpy(), camera_window_features(seq)[:, 1:].double().numpy(),
                                   atol=1e-5)
    # by hand: left wrist translation of frame 7 of window 1 in the first head frame
    R0, c0 = T[1, 0, 0, :3, :3], T[1, 0, 0, :3, 3]
    np.testing.assert_allclose(f[1, 7, 6:9].numpy(), R0.T @ (T[1, 7, 1, :3, 3] - c0), atol=1e-5)
    # moving the whole world rigidly changes nothing
    W = _poses(rng, 1)[0]
    np.testing.assert_allclose(wrist_window_features(W @ T).numpy(), f.float().numpy(), atol=1e-5)
    # the errors: 0 against itself, the translation in cm of a shifted left wrist, halved (mean of both)
    t, r = wrist_errors(f.float(), f.float())
    assert t.shape == (N,) and float(t.max()) < 1e-4 and float(r.max()) < 0.05
    g = f.clone().float()
    g[..., 6] += 0.1
    t, r = wrist_errors(g, f.float())
    assert t.numpy() == pytest.approx([5.0] * N, abs=1e-3) and float(r.max()) < 0.05
