"""Stage timing: nested stages count exclusively, stages add up to the total, nothing is recorded outside a timer."""

import time

from bioplaus_analysis.stage_times import StageTimes, stage, times_line


def test_a_nested_stage_is_not_counted_twice():
    times = StageTimes()
    with times.active():
        with stage("outer"):
            time.sleep(0.02)
            with stage("inner"):
                time.sleep(0.05)
        with stage("outer"):  # a second visit adds up
            time.sleep(0.02)
    record = times.record()
    assert list(record) == ["outer", "inner", "total"]
    assert record["outer"] >= 0.04 and record["inner"] >= 0.05
    assert record["outer"] + record["inner"] <= record["total"]  # inner counted once, whatever the load


def test_stage_outside_an_active_timer_records_nothing():
    times = StageTimes()
    with stage("free"):
        pass
    assert times.seconds == {}


def test_times_line_reads_like_the_record():
    assert times_line("compare", {"training": 40.04, "drawing": 2.0, "total": 42.5}) == \
        "compare: training 40.0 s, drawing 2.0 s; total 42.5 s"
