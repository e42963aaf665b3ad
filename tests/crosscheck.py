#!/usr/bin/env python3
"""An independent engine over the same Parquet: DuckDB runs the statistics models (sql/*.sql,
unchanged) on the warehouse's input files of one night and must give exactly the rows xueji
published under WH/marts/; Polars and pyarrow must read every published mart.

Usage: crosscheck.py WAREHOUSE DATE [--json OUT]
  WAREHOUSE  a local warehouse with exactly one committed night (every data file is live)
  DATE       that night, YYYY-MM-DD
Prints one line per model and exits 1 on any difference. The dedup models are left out: they
call xueji's own functions (id_check, name_sound, ...), which DuckDB does not have.
"""
import json
import pathlib
import re
import sys
import time
import tomllib

import duckdb
import polars as pl
import pyarrow.dataset as pds
import pyarrow.parquet as pq

ROOT = pathlib.Path(__file__).resolve().parents[1]
INPUTS = ["schools", "students", "movements", "dedup_decisions", "nutrition_schools", "nutrition_terms", "exams", "meal_ledger"]


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


def main():
    wh, date = pathlib.Path(sys.argv[1]).resolve(), sys.argv[2]
    out_json = sys.argv[sys.argv.index("--json") + 1] if "--json" in sys.argv else None
    con = duckdb.connect()
    con.execute(f"SET threads TO {2}")
    t0 = time.perf_counter()
    for t in INPUTS:
        files = wh / t
        if not any(files.rglob("*.parquet")):
            continue
        con.execute(f"""CREATE VIEW {t} AS SELECT *, snapshot_date AS changed_on, DATE '{date}' AS as_of_date
                        FROM read_parquet('{files}/**/*.parquet', hive_partitioning = true, union_by_name = true)
                        WHERE change <> 'delete'""")
    reference(con)
    results, failed = [], False
    for name, inputs, sql in models():
        if name.startswith("dedup_"):
            continue
        sql = sql.strip().rstrip(";")
        t1 = time.perf_counter()
        con.execute(f"CREATE TABLE {name} AS {sql}")
        ms = (time.perf_counter() - t1) * 1000
        mart = wh / "marts" / name / f"snapshot_date={date}" / f"{name}.parquet"
        con.execute(f"CREATE VIEW xj_{name} AS SELECT * FROM read_parquet('{mart}', hive_partitioning = false)")
        rows = con.execute(f"SELECT COUNT(*) FROM {name}").fetchone()[0]
        ours = [r[0] for r in con.execute(f"DESCRIBE {name}").fetchall()]
        theirs = [r[0] for r in con.execute(f"DESCRIBE xj_{name}").fetchall()]
        if ours != theirs:
            print(f"不一致 DIFF  {name}: 列不同 / columns differ: DuckDB {ours} xueji {theirs}")
            failed = True
            continue
        missing = con.execute(f"SELECT COUNT(*) FROM (SELECT * FROM {name} EXCEPT ALL SELECT * FROM xj_{name})").fetchone()[0]
        extra = con.execute(f"SELECT COUNT(*) FROM (SELECT * FROM xj_{name} EXCEPT ALL SELECT * FROM {name})").fetchone()[0]
        # Dashboards read the same file with Polars and pyarrow, and the folder as a Hive dataset.
        pl_rows = pl.read_parquet(mart).height
        pa_rows = pq.read_table(mart).num_rows
        ds_rows = pds.dataset(wh / "marts" / name, format="parquet", partitioning="hive").count_rows()
        ok = missing == 0 and extra == 0 and pl_rows == pa_rows == rows
        failed |= not ok
        results.append({"model": name, "rows": rows, "duckdb_ms": round(ms, 1), "missing": missing, "extra": extra,
                        "polars_rows": pl_rows, "pyarrow_rows": pa_rows, "dataset_rows": ds_rows, "ok": ok})
        print(f"{'通过 ok' if ok else '不一致 DIFF'}  {name:32} {rows:>9} 行  DuckDB {ms:8.1f} ms  "
              f"仅DuckDB有 {missing}  仅xueji有 {extra}  polars {pl_rows}  pyarrow {pa_rows}")
    total = (time.perf_counter() - t0) * 1000
    print(f"DuckDB 合计 / total {total:.0f} ms")
    if out_json:
        pathlib.Path(out_json).write_text(json.dumps({"total_ms": round(total, 1), "models": results}, ensure_ascii=False, indent=1))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
