"""The Parquet archive: a closed day exported, deleted from etcd and read back through the
events queries as it was; verify names a damaged or missing file; other readers (pyarrow's
datasets, as DuckDB and pandas) read the files as they are."""

from __future__ import annotations

import time
from pathlib import Path

import etcd3
import pyarrow.dataset as ds
import pytest

from roadside.central.store import archive, keys
from roadside.central.store.client import connect
from roadside.central.store.etcd_process import EtcdProcess
from roadside.common.main import main
from roadside.proto.v1 import query_pb2, query_pb2_grpc
from tests.central.query_helpers import BASE_NS, DEADLINE_S, make_pass
from tests.fixtures.central import StartCentral
from tests.fixtures.polling import wait_until
from tests.fixtures.trust import Site

S = 1_000_000_000
DAY = archive.day_of(BASE_NS)  # yesterday (UTC): a closed day


def export(tmp_path: Path, etcd: EtcdProcess, namespace: str, *args: str) -> int:
    return main(["archive", *args, "--dir", str(tmp_path / "archive"), "--etcd-endpoints",
                 etcd.endpoint, "--namespace", namespace, "--pki-dir", str(tmp_path / "none")])


def events(site: Site, addr: str, **query: object) -> list[object]:
    stub = site.stub(addr, query_pb2_grpc.QueryServiceStub)
    reply = stub.GetEvents(query_pb2.GetEventsRequest(**query), timeout=DEADLINE_S)
    return list(reply.events)


def test_an_exported_day_deleted_from_etcd_reads_back_as_it_was(
    start_test_central: StartCentral, site: Site, etcd_server: EtcdProcess, namespace: str,
    etcd_client: etcd3.MultiEndpointEtcd3Client, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    central = start_test_central(archive_dir=tmp_path / "archive")
    day_start, day_end = archive.day_span(DAY)
    passes = [make_pass(det, day_start + 3600 * S + i * 37 * S)
              for det in ("north", "south") for i in range(300)]
    central.store.put_passes(passes)
    central.store.put_passes([make_pass("north", day_end + 3600 * S)])  # the next day
    before = events(site, central.query_addr, since_ns=day_start, until_ns=day_end)
    assert len(before) == 600

    assert export(tmp_path, etcd_server, namespace, "export", "--day", DAY) == 0
    assert f"{DAY}: 2 detectors, 600 passes" in capsys.readouterr().out
    day_keys = etcd_client.get_range_response(
        keys.bucket_prefix(namespace, "north", keys.bucket_of(day_start)),
        keys.bucket_prefix(namespace, "north", keys.bucket_of(day_end)), keys_only=True)
    for kv in day_keys.kvs:  # north's day expired; its next day is still in etcd
        etcd_client.delete(kv.key)
    etcd_client.delete_prefix(keys.detector_prefix(namespace, "south"))
    assert len(events(site, central.query_addr, since_ns=day_start, until_ns=day_end)) == 600
    assert events(site, central.query_addr, since_ns=day_start, until_ns=day_end) == before
    everything = events(site, central.query_addr)  # the archive and etcd, merged in order
    assert everything[:600] == before and len(everything) == 601

    table = ds.dataset(tmp_path / "archive", format="parquet", partitioning="hive").to_table()
    assert table.num_rows == 600 and set(table.column("detector_id").to_pylist()) == {
        "north", "south"}
    assert export(tmp_path, etcd_server, namespace, "list", "--format", "csv") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("kind,day,detector_id,rows,bytes,path,sha256")
    assert [line.split(",")[:4] for line in lines[1:]] == [["passes", DAY, "north", "300"],
                                                           ["passes", DAY, "south", "300"]]


def test_verify_names_a_damaged_and_a_missing_file(
    start_test_central: StartCentral, etcd_server: EtcdProcess, namespace: str,
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    central = start_test_central()
    day_start, _ = archive.day_span(DAY)
    central.store.put_passes([make_pass(det, day_start + i * S)
                              for det in ("east", "west") for i in range(50)])
    assert export(tmp_path, etcd_server, namespace, "export", "--closed") == 0
    capsys.readouterr()
    assert export(tmp_path, etcd_server, namespace, "verify") == 0
    assert "2 of 2 files intact" in capsys.readouterr().err

    root = tmp_path / "archive"
    east = root / f"day={DAY}" / "detector=east" / "passes.parquet"
    data = bytearray(east.read_bytes())
    data[len(data) // 2] ^= 0xFF
    east.write_bytes(bytes(data))
    (root / f"day={DAY}" / "detector=west" / "passes.parquet").unlink()
    assert export(tmp_path, etcd_server, namespace, "verify") == 1
    out, err = capsys.readouterr()
    assert f"{east}: its SHA-256 is not the manifest's" in out
    assert "detector=west/passes.parquet: cannot read" in out
    assert "0 of 2 files intact" in err


def test_a_day_not_closed_or_not_a_date_is_one_line(
    etcd_server: EtcdProcess, namespace: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    today = archive.day_of(time.time_ns())
    assert export(tmp_path, etcd_server, namespace, "export", "--day", today) == 2
    assert "not closed yet" in capsys.readouterr().err
    assert export(tmp_path, etcd_server, namespace, "export", "--day", "yesterday") == 2
    err = capsys.readouterr().err
    assert "day: expected YYYY-MM-DD, got 'yesterday'" in err and err.count("\n") == 1
    assert not (tmp_path / "archive" / archive.MANIFEST).exists()


def test_central_with_an_archive_exports_closed_days_by_itself(
    start_test_central: StartCentral, etcd_server: EtcdProcess, namespace: str,
    tmp_path: Path,
) -> None:
    """The first look is at start; the store has yesterday's passes before central starts."""
    day_start, _ = archive.day_span(DAY)
    store_first = start_test_central()
    store_first.store.put_passes([make_pass("gate", day_start + i * 60 * S) for i in range(40)])
    store_first.stop(0)
    root = tmp_path / "auto-archive"
    start_test_central(archive_dir=root)
    wait_until(lambda: any(e.day == DAY for e in archive.entries(root)), 30,
               "central to archive yesterday")
    [entry] = archive.entries(root)
    assert (entry.detector_id, entry.rows) == ("gate", 40)
    assert archive.verify(root) == []


def test_on_the_secure_default_central_archives_by_itself_inside_its_namespace(
    start_test_central: StartCentral, namespace: str, tmp_path: Path,
) -> None:
    """The embedded etcd with TLS and auth (roadside's etcd user may use /{ns}/ only): the
    archiver's lock and everything else central keeps lie inside the namespace."""
    day_start, _ = archive.day_span(DAY)
    root = tmp_path / "auto-archive"
    central = start_test_central(etcd_endpoints=(), embedded_etcd_port=0, archive_dir=root,
                                 archive_interval_s=0.5)
    assert central.etcd is not None and central.etcd.tls is not None  # TLS and auth
    central.store.put_passes([make_pass("gate", day_start + i * 60 * S) for i in range(40)])
    wait_until(lambda: any(e.day == DAY for e in archive.entries(root)), 30,
               "central to archive yesterday")
    [entry] = archive.entries(root)
    assert (entry.detector_id, entry.rows) == ("gate", 40)
    root_client = connect([central.etcd.endpoint], tls=central.etcd.client_tls())
    try:
        outside = [meta.key for _value, meta in root_client.get_all()
                   if not meta.key.startswith(f"/{namespace}/".encode())]
    finally:
        root_client.close()
    assert outside == []
