"""Import from, and export to, the Metapsy trial databases.

Usage (from the review's working directory)::

    python -m evsynth.metapsy DATA.csv --map MAP.yaml [--config config.yaml] [--out imported.tsv]
        [--skipped skipped.tsv] [--xlsx imported.xlsx]
    python -m evsynth.metapsy --export studies.tsv --map MAP.yaml --out data.csv

Import writes study-table rows (the columns of :data:`evsynth.data.metapsy.IMPORT_COLUMNS`)
for the rows of a Metapsy ``data.csv`` that the map selects and can map, and lists every other
row with the reason (``--skipped``, default ``<out>.skipped.tsv``); the xlsx has both as two
sheets, for a reviewer to inspect. The rows are checked against config.yaml's outcomes and
modes; nothing is written to the study table itself: copy the rows you accept into it.
Export writes arm-mean rows of a study table in the database's layout and codes. The map
format: docs/metapsy.md. The databases are ODC-By 1.0: cite the database DOI (the importer
puts it in every row's ``source``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
import yaml

from evsynth.data.config import ConfigError, Window, outcomes_from_config, windows_from_config
from evsynth.data.io import write_tsv
from evsynth.data.metapsy import IMPORT_COLUMNS, SKIPPED_COLUMNS, MetapsyMapError, import_rows, load_map, read_metapsy
from evsynth.data.metapsy_export import export_rows, write_metapsy
from evsynth.data.studies import StudyTableError, read_table


def _review(config_path: str) -> tuple[dict[str, bool], list[str], list[Window]]:
    config = yaml.safe_load(Path(config_path).read_text(encoding="utf-8"))
    outcomes = {k: o.higher_is_better for k, o in outcomes_from_config(config).items()}
    return outcomes, list(config["modes"]), windows_from_config(config)


def _write_xlsx(path: Path, rows: list[dict[str, str]], skipped: list[dict[str, str]], columns: list[str]) -> None:
    tmp = path.with_name(f".{path.name}.tmp.xlsx")
    with pd.ExcelWriter(tmp, engine="openpyxl") as writer:
        pd.DataFrame(rows, columns=columns).to_excel(writer, sheet_name="imported", index=False)
        pd.DataFrame(skipped, columns=list(SKIPPED_COLUMNS)).to_excel(writer, sheet_name="not imported", index=False)
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evsynth.metapsy", description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", help="Metapsy data.csv to import")
    parser.add_argument("--map", required=True, help="map file (YAML), see docs/metapsy.md")
    parser.add_argument("--config", default="config.yaml", help="review config giving outcomes and modes")
    parser.add_argument("--out", help="output: study-table rows (.tsv) on import, data.csv on export")
    parser.add_argument("--skipped", help="rows not imported, with the reason (.tsv)")
    parser.add_argument("--secondary", action="store_true",
                        help="import a trial's other instruments and later measurements in a window as secondary "
                             "effects (primary = no) instead of listing or excluding them")
    parser.add_argument("--xlsx", help="also write the imported and not-imported rows to this .xlsx")
    parser.add_argument("--export", metavar="STUDIES", help="export this study table in Metapsy's layout")
    args = parser.parse_args(argv)
    if bool(args.data) == bool(args.export):
        parser.error("give either DATA.csv (import) or --export STUDIES (export)")
    try:
        outcomes, modes, windows = _review(args.config)
        mapping = load_map(args.map, outcomes, modes)
    except (OSError, MetapsyMapError, ConfigError, KeyError, TypeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.export:
        try:
            table = read_table(args.export)
        except StudyTableError as err:
            print(err, file=sys.stderr)
            return 2
        records, refused = export_rows(table.to_dict("records"), mapping, outcomes)
        out = Path(args.out or "metapsy_export.csv")
        write_metapsy(records, out)
        for item in refused:
            print(f"{args.export}, line {item['row']} ({item['study']}, {item['outcome']}, {item['timepoint']}): "
                  f"not exported: {item['reason']}", file=sys.stderr)
        print(f"{out}: {len(records)} rows; {len(refused)} rows not exported (listed above)")
        return 0
    try:
        result = import_rows(read_metapsy(args.data), mapping, outcomes, windows, args.secondary)
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = Path(args.out or "metapsy_import.tsv")
    skipped = Path(args.skipped or out.with_suffix(".skipped.tsv"))
    columns = [*IMPORT_COLUMNS, *mapping.extra.values()]
    write_tsv(result.rows, columns, out)
    write_tsv(result.skipped, SKIPPED_COLUMNS, skipped)
    if args.xlsx:
        _write_xlsx(Path(args.xlsx), result.rows, result.skipped, columns)
    for check in result.g_checks:
        if not check["agrees"]:
            print(f"{args.data}, line {check['line']} ({check['study']}, {check['instrument']}): our g "
                  f"{check['g_ours_arm1_minus_arm2']:.4f} vs Metapsy .g {check['g_metapsy_same_convention']:.4f} "
                  "(same convention): check the row", file=sys.stderr)
    print(f"{out}: {len(result.rows)} rows imported; {skipped}: {len(result.skipped)} rows not imported, "
          "with the reason")
    return 0


if __name__ == "__main__":
    sys.exit(main())
