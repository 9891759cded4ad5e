import pytest
import torch

from lit_evoae.data.cache import CacheMismatch, cached, read_cache, write_cache

METADATA = {"format": 1, "seed": 4}


def make():
    return {"a": torch.arange(6, dtype=torch.uint8), "b": torch.ones(2, 3)}


def same(first, second):
    return first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)


def test_written_cache_reads_back(tmp_path):
    path = tmp_path / "set.pt"
    write_cache(path, METADATA, make())
    assert same(read_cache(path, METADATA), make())
    assert [p.name for p in tmp_path.iterdir()] == ["set.pt"]  # no temporary left behind


def test_cached_makes_once_then_reads(tmp_path):
    calls = []
    path = tmp_path / "sub" / "set.pt"

    def counting_make():
        calls.append(1)
        return make()

    assert same(cached(path, METADATA, counting_make), make())
    assert same(cached(path, METADATA, counting_make), make())
    assert len(calls) == 1


def test_truncated_cache_is_reported_and_regenerated(tmp_path):
    path = tmp_path / "set.pt"
    write_cache(path, METADATA, make())
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(CacheMismatch, match="unreadable"):
        read_cache(path, METADATA)
    with pytest.warns(UserWarning, match=f"{path}.*unreadable.*regenerating"):
        result = cached(path, METADATA, make)
    assert same(result, make())
    assert same(read_cache(path, METADATA), make())


def test_altered_content_fails_the_content_check(tmp_path):
    path = tmp_path / "set.pt"
    write_cache(path, METADATA, make())
    payload = torch.load(path, weights_only=True)
    payload["tensors"]["a"][0] = 99  # the stored digest no longer matches
    torch.save(payload, path)
    with pytest.warns(UserWarning, match="content check failed"):
        result = cached(path, METADATA, make)
    assert result["a"][0] == 0


def test_cache_made_for_other_parameters_is_not_used(tmp_path):
    path = tmp_path / "set.pt"
    write_cache(path, {"format": 1, "seed": 5}, {"a": torch.zeros(1)})
    with pytest.warns(UserWarning, match="different parameters"):
        result = cached(path, METADATA, make)
    assert same(result, make())


def test_a_foreign_pickle_is_rejected(tmp_path):
    path = tmp_path / "set.pt"
    torch.save([1, 2, 3], path)
    with pytest.raises(CacheMismatch, match="different parameters"):
        read_cache(path, METADATA)
