import subprocess
import sys
import textwrap

import pytest

from recft.loop.storage.registry import Registry, RegistryError, safe_id


def a_folder(path, text="weights"):
    path.mkdir(parents=True)
    (path / "adapter.bin").write_text(text)
    return path


def test_lifecycle_promote_reject_rollback(tmp_path):
    reg = Registry(tmp_path)
    base = reg.add("base MiniLM", kind="base", path=None, status="incumbent")
    assert reg.incumbent().id == base.id == "v0001-base-MiniLM"
    run1 = str(a_folder(tmp_path / "runs" / "1"))
    cand = reg.add("cycle 1", kind="lora", path=run1, parent=base.id, config={"rank": 16})
    assert cand.status == "candidate" and cand.parent == base.id and cand.config == {"rank": 16}
    reg.promote(cand.id)
    assert reg.incumbent().id == cand.id and reg.get(base.id).status == "retired"
    bad = reg.add("cycle 2", kind="lora", path=str(a_folder(tmp_path / "runs" / "2")), parent=cand.id)
    reg.reject(bad.id, "ROLLBACK: worse")
    assert reg.get(bad.id).status == "rejected" and reg.incumbent().id == cand.id
    assert reg.rollback().id == base.id
    assert reg.get(cand.id).status == "retired"
    assert [h[0] for h in reg.incumbent_history()] == [base.id, cand.id, base.id]


def test_human_approval(tmp_path):
    reg = Registry(tmp_path)
    base = reg.add("base", "base", None, status="incumbent")
    cand = reg.add("c", "lora", None, parent=base.id)
    with pytest.raises(RegistryError, match="not pending approval"):
        reg.approve(cand.id)
    reg.mark_pending(cand.id)
    assert [v.id for v in reg.pending()] == [cand.id]
    reg.approve(cand.id)
    assert reg.incumbent().id == cand.id
    with pytest.raises(RegistryError, match="only a candidate can be promoted"):
        reg.promote(base.id)


def test_clear_errors(tmp_path):
    reg = Registry(tmp_path)
    with pytest.raises(RegistryError, match="no version 'v9'"):
        reg.get("v9")
    with pytest.raises(RegistryError, match="parent version 'nope' does not exist"):
        reg.add("x", "lora", None, parent="nope")
    with pytest.raises(RegistryError, match="no previous incumbent"):
        reg.rollback()
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "registry.sqlite").write_bytes(b"this is not a database" * 100)
    with pytest.raises(RegistryError, match=r"registry\.sqlite: not a readable registry"):
        Registry(corrupt)


@pytest.mark.parametrize("name", ["../../etc/passwd", "a b/c\\d:e*?", "", "ünïcødé" * 20])
def test_ids_are_safe_file_names(name):
    slug = safe_id(name)
    assert slug and "/" not in slug and "\\" not in slug and ".." not in slug and len(slug) <= 48


def test_a_second_cycle_is_refused_while_one_holds_the_lock(tmp_path):
    reg = Registry(tmp_path)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
        import sys, time
        from recft.loop.storage.registry import Registry
        with Registry({str(tmp_path)!r}).cycle_lock():
            print("locked", flush=True)
            time.sleep(30)
    """),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RegistryError, match="a cycle is already running"):
            with reg.cycle_lock():
                pass
    finally:
        holder.kill()
        holder.wait()
    with reg.cycle_lock():  # the kernel released the dead holder's lock
        pass


def test_looks_are_counted_on_one_ledger_whatever_the_golden_content_and_lineage_reaches_the_base(tmp_path):
    registry = Registry(tmp_path)
    base = registry.add("base", "base", None, status="incumbent")
    first = registry.add("c1", "merged", None, parent=base.id)
    second = registry.add("c2", "merged", None, parent=first.id)
    assert registry.record_look("golden-a", first.id, 0.0152, 0.2, 0.15, "INCONCLUSIVE", "ndcg@10") == 1
    assert registry.record_look("golden-a", second.id, 0.0038, 0.001, 0.14, "PROMOTED", "ndcg@10") == 2
    assert registry.record_look("golden-b", second.id, 0.0055, 0.5, 0.2, "REJECTED", "ndcg@10") == 3  # grown set
    looks = registry.looks()
    assert [(look["version"], look["verdict"], look["alpha"], look["golden"]) for look in looks] == [
        (first.id, "INCONCLUSIVE", 0.0152, "golden-a"),
        (second.id, "PROMOTED", 0.0038, "golden-a"),
        (second.id, "REJECTED", 0.0055, "golden-b"),
    ]
    assert Registry(tmp_path / "other").looks() == []
    assert registry.lineage_root(second).id == base.id and registry.lineage_root(base).id == base.id
