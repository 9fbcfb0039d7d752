"""The demo's J4D verdict compares each learned point with IJG at equal accuracy, in plain words."""

from jpegdl.cli.demo import _j4d_verdict

IJG = [(0.5, 0.70), (1.0, 0.80), (2.0, 0.85), (4.0, 0.87)]


def test_verdict_words_follow_the_sign_of_the_saving():
    better = _j4d_verdict(IJG, [(0.5, 0.80), (1.0, 0.85)])  # half IJG's bytes at both accuracies
    assert "IJG needs 1.000 bpp (learned: 50.0% fewer bytes)" in better
    assert better.endswith("verdict: learned tables beat IJG at equal accuracy at every learned point")
    mixed = _j4d_verdict(IJG, [(0.5, 0.80), (4.0, 0.85)])
    assert "(learned: 100.0% more bytes)" in mixed and mixed.endswith("at some accuracies only")
    worse = _j4d_verdict(IJG, [(2.0, 0.80), (0.1, 0.95)])
    assert "outside the IJG curve's accuracy range" in worse
    assert worse.endswith("learned tables do NOT beat IJG at equal accuracy here")


def test_verdict_names_the_codec_it_judges():
    text = _j4d_verdict(IJG, [(0.5, 0.80)], "guided", "guided files")
    assert "guided 0.500 bpp" in text and text.endswith("verdict: guided files beat IJG at equal accuracy at every"
                                                         " guided point")  # fmt: skip
