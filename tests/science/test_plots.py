"""What the figures draw, checked on the points (no profile)."""

from aiida_sei.science.plots import uncertainty_segments


def test_uncertainty_points_sit_at_their_md_steps_and_short_segments_still_show(tmp_path):
    """Segment 1 (steps 100-130 of a continued run) stored frames at 110, 120, 130; segment 2 ran
    5 steps, fewer than the thinning interval, and triggered: its last step is drawn at 135."""
    segments = [([110, 120, 130], [0.01, 0.02, 0.03], 30, 0.03, False), (None, None, 5, 0.09, True)]
    drawn = uncertainty_segments(segments, {'dft': 0.05, 'add_atom': 0.01}, tmp_path / 'u.png', start_step=100)
    assert drawn == [([110, 120, 130], [0.01, 0.02, 0.03]), ([135], [0.09])]
    assert (tmp_path / 'u.png').read_bytes()[:4] == b'\x89PNG'
