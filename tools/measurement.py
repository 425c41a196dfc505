"""What the measurement scripts beside the study share: the test cells of a Patches run and writing a table to figures/.

`tools/a_training_length.py` and `tools/b_training_data.py` import it (a script's own folder is on
its import path).
"""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_cells(res:dict)->dict:
    "The test AP, pixel AUC and IoU of a `Study.evaluate` result, rounded as the tables show them."
    return {'test AP': round(res['ap'], 1), 'test pixel AUC': round(res['pixel_auc'], 1), 'test IoU': round(res['iou'], 1)}


def write_table(rows:list, name:str):
    "Write `rows` (dicts) to figures/<name>.csv and its .md, and print the table."
    import pandas as pd
    df = pd.DataFrame(rows)
    out = ROOT/'figures'/f'{name}.csv'
    df.to_csv(out, index=False, lineterminator='\n')
    out.with_suffix('.md').write_text(df.to_markdown(index=False) + '\n')
    print(df.to_markdown(index=False))
    print(f'wrote {out} and its .md')
