"""sim_backend.memo.BoundedMemo: the simulator's caches stay bounded and never serve a value not put there."""

from sim_backend.memo import BoundedMemo


def test_a_full_memo_empties_before_the_next_new_key_and_keeps_replacing_one():
    m: BoundedMemo[int, str] = BoundedMemo(3)
    for k in range(3):
        assert m.remember(k, str(k)) == str(k)
    assert m.remember(1, "one") == "one" and len(m) == 3          # replacing a key: nothing dropped
    assert m.remember(7, "7") == "7" and dict(m) == {7: "7"}       # a new key into a full table: emptied first
    assert m.get(0) is None and m.get(7) == "7"
