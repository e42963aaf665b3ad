#!/usr/bin/env python3
"""An independent engine over the same Parquet: DuckDB runs the statistics models (sql/*.sql,
unchanged) on the warehouse's input files of one night and must give exactly the rows xueji
published under WH/marts/; Polars and pyarrow must read every published mart.

Usage: crosscheck.py WAREHOUSE DATE [--json OUT] [--threads N]
  WAREHOUSE  a local warehouse with exactly one committed night (every data file is live)
  DATE       that night, YYYY-MM-DD
  --json     also write the figures (per-model DuckDB time, peak memory, differences) to OUT
  --threads  DuckDB threads (default 2, the CI machine's cores)
All models run first, timed, and the peak memory is taken then, so `xueji bench marts` can set
them beside xueji's; the comparisons come after. Prints one line per model and exits 1 on any
difference. The dedup models and list_key_changes are left out: they
call xueji's own functions (id_check, name_sound, mask_id, ...), which DuckDB does not have.
"""
import json
import pathlib
import re
import resource
import sys
import tempfile
import time
import tomllib

import duckdb
import polars as pl
import pyarrow.dataset as pds
import pyarrow.parquet as pq

ROOT = pathlib.Path(__file__).resolve().parents[1]
INPUTS = ["schools", "students", "movements", "dedup_decisions", "key_change_requests", "nutrition_schools", "nutrition_terms", "nutrition_duty", "exams", "meal_ledger"]


def header(sql, key):
    m = re.search(rf"^-- {key}:\s*(.*)$", sql, re.M)
    return m.group(1).strip() if m else ""


def models():
    """The models in dependency order, as the runner orders them (inputs before readers)."""
    found = {}
    for p in sorted((ROOT / "sql").glob("*.sql")):
        sql = p.read_text(encoding="utf-8")
        found[header(sql, "model")] = ([x.strip() for x in header(sql, "inputs").split(",")], sql)
    order, seen = [], set()

    def visit(n):
        if n in seen or n not in found:
            return
        seen.add(n)
        for i in found[n][0]:
            visit(i)
        order.append(n)

    for n in sorted(found):
        visit(n)
    return [(n, found[n][0], found[n][1]) for n in order]


def reference(con):
    rd = ROOT / "schemas" / "reference"
    for name, file in [("ref_calendar", "calendar.csv"), ("ref_yibu_standard", "yibu_standard.csv"),
                       ("ref_ws_t_456", "ws_t_456_2014.csv"), ("ref_ws_t_586", "ws_t_586_2018.csv")]:
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM read_csv('{rd / file}', header=true)")
    # xueji's graduation_date(): the class's cohort plus its stage's grades under the school's
    # 学制, on the first day of that summer's graduating_pause (a year's own row, else '*').
    con.execute("""CREATE MACRO graduation_date(cc, em, sys) AS (
        SELECT make_date(y, CAST(substr(st, 1, 2) AS INTEGER), CAST(substr(st, 4, 2) AS INTEGER))
        FROM (SELECT COALESCE(TRY_CAST(substr(cc, 1, 4) AS INTEGER), TRY_CAST(substr(em, 1, 4) AS INTEGER))
                     + CASE WHEN substr(cc, 5, 1) = '1' AND sys = '五四制' THEN 5
                            WHEN substr(cc, 5, 1) = '1' THEN 6
                            WHEN substr(cc, 5, 1) = '2' AND sys = '五四制' THEN 4
                            ELSE 3 END AS y) g,
             LATERAL (SELECT COALESCE(
                 (SELECT min(CAST("start" AS VARCHAR)) FROM ref_calendar
                  WHERE "window" = 'graduating_pause' AND CAST(year AS VARCHAR) = CAST(g.y AS VARCHAR)),
                 (SELECT min(CAST("start" AS VARCHAR)) FROM ref_calendar
                  WHERE "window" = 'graduating_pause' AND CAST(year AS VARCHAR) = '*'),
                 '07-01') AS st) p)""")
    lists = tomllib.loads((ROOT / "schemas" / "codelists.toml").read_text(encoding="utf-8"))["lists"]
    rows = [(l, v.get("code", ""), v["name"]) for l, d in lists.items() for v in d["values"]]
    con.execute("CREATE TABLE codelists (list VARCHAR, code VARCHAR, name VARCHAR)")
    con.executemany("INSERT INTO codelists VALUES (?, ?, ?)", rows)
    # regions: code6, code, name, full_name (province, city, county; 市辖区 and 县 say nothing), level, parent_code
    div = {}
    for level, f in [("省级", "divisions_province.csv"), ("地市", "divisions_city.csv"), ("区县", "divisions_county.csv")]:
        for line in (rd / f).read_text(encoding="utf-8").splitlines()[1:]:
            if line:
                code, name, parent = line.split(",")
                div[code] = (name, level, parent)
    out = []
    for code, (name, level, parent) in div.items():
        full = "".join(div[code[:k]][0] for k in (2, 4) if len(code) > k and code[:k] in div and div[code[:k]][0] not in ("市辖区", "县"))
        out.append((code.ljust(6, "0"), code, name, full + name, level, parent))
    con.execute("CREATE TABLE regions (code6 VARCHAR, code VARCHAR, name VARCHAR, full_name VARCHAR, level VARCHAR, parent_code VARCHAR)")
    con.executemany("INSERT INTO regions VALUES (?, ?, ?, ?, ?, ?)", out)


def peak_rss_mb():
    """Peak resident memory of this process so far (Linux VmHWM), in MiB."""
    for line in pathlib.Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    wh, date = pathlib.Path(sys.argv[1]).resolve(), sys.argv[2]
    arg = lambda flag, default: sys.argv[sys.argv.index(flag) + 1] if flag in sys.argv else default
    out_json, threads = arg("--json", None), int(arg("--threads", 2))
    con = duckdb.connect()
    con.execute(f"SET threads TO {threads}")
    t0 = time.perf_counter()
    for t in INPUTS:
        files = wh / t
        if not any(files.rglob("*.parquet")):
            continue
        con.execute(f"""CREATE VIEW {t} AS SELECT *, snapshot_date AS changed_on, DATE '{date}' AS as_of_date
                        FROM read_parquet('{files}/**/*.parquet', hive_partitioning = true, union_by_name = true)
                        WHERE change <> 'delete'""")
        # The change log as xueji's `<table>_log`: every row, deletions too.
        con.execute(f"""CREATE VIEW {t}_log AS
                        SELECT * FROM read_parquet('{files}/**/*.parquet', hive_partitioning = true, union_by_name = true)""")
    reference(con)
    setup_ms = (time.perf_counter() - t0) * 1000
    # Each model is materialised in memory as a table that later models read, as xueji writes
    # each one before the next runs; then written to a Parquet file, as xueji publishes each mart
    # (the two times are kept apart: a mart that is not written is not yet a mart).
    timed = []
    with tempfile.TemporaryDirectory() as out:
        for name, inputs, sql in models():
            # list_key_changes reads a change log (students_log) and calls xueji's mask_id too.
            if name.startswith("dedup_") or name == "list_key_changes":
                continue
            t1 = time.perf_counter()
            con.execute(f"CREATE TABLE {name} AS {sql.strip().rstrip(';')}")
            t2 = time.perf_counter()
            con.execute(f"COPY {name} TO '{out}/{name}.parquet' (FORMAT parquet)")
            timed.append((name, (t2 - t1) * 1000, (time.perf_counter() - t2) * 1000))
    models_ms = sum(t[1] for t in timed)
    write_ms = sum(t[2] for t in timed)
    peak = peak_rss_mb()

    results, failed = [], False
    for name, ms, write in timed:
        mart = wh / "marts" / name / f"snapshot_date={date}" / f"{name}.parquet"
        con.execute(f"CREATE VIEW xj_{name} AS SELECT * FROM read_parquet('{mart}', hive_partitioning = false)")
        rows = con.execute(f"SELECT COUNT(*) FROM {name}").fetchone()[0]
        ours = [r[0] for r in con.execute(f"DESCRIBE {name}").fetchall()]
        theirs = [r[0] for r in con.execute(f"DESCRIBE xj_{name}").fetchall()]
        if ours != theirs:
            print(f"不一致 DIFF  {name}: 列不同 / columns differ: DuckDB {ours} xueji {theirs}")
            failed = True
            results.append({"model": name, "rows": rows, "duckdb_ms": round(ms, 1), "write_ms": round(write, 1), "ok": False})
            continue
        missing = con.execute(f"SELECT COUNT(*) FROM (SELECT * FROM {name} EXCEPT ALL SELECT * FROM xj_{name})").fetchone()[0]
        extra = con.execute(f"SELECT COUNT(*) FROM (SELECT * FROM xj_{name} EXCEPT ALL SELECT * FROM {name})").fetchone()[0]
        # Dashboards read the same file with Polars and pyarrow, and the folder as a Hive dataset.
        pl_rows = pl.scan_parquet(mart).select(pl.len()).collect().item()
        pa_rows = pq.read_table(mart).num_rows
        ds_rows = pds.dataset(wh / "marts" / name, format="parquet", partitioning="hive").count_rows()
        ok = missing == 0 and extra == 0 and pl_rows == pa_rows == rows
        failed |= not ok
        results.append({"model": name, "rows": rows, "duckdb_ms": round(ms, 1), "write_ms": round(write, 1), "missing": missing, "extra": extra,
                        "polars_rows": pl_rows, "pyarrow_rows": pa_rows, "dataset_rows": ds_rows, "ok": ok})
        print(f"{'通过 ok' if ok else '不一致 DIFF'}  {name:32} {rows:>9} 行  DuckDB {ms:8.1f} ms  "
              f"仅DuckDB有 {missing}  仅xueji有 {extra}  polars {pl_rows}  pyarrow {pa_rows}")
    print(f"DuckDB：准备 {setup_ms:.0f} ms，模型 {models_ms:.0f} ms，写 Parquet {write_ms:.0f} ms，内存峰值 {peak:.0f} MB"
          " / setup, models, writing Parquet, peak memory")
    if out_json:
        figures = {"threads": threads, "setup_ms": round(setup_ms, 1), "models_ms": round(models_ms, 1), "write_ms": round(write_ms, 1),
                   "peak_rss_mb": round(peak, 1), "duckdb_version": duckdb.__version__, "models": results}
        pathlib.Path(out_json).write_text(json.dumps(figures, ensure_ascii=False, indent=1))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
