"""Measure how far the toy study's tables move on a machine with other vector instructions.

`python tools/isa_spread.py [--clone DIR]` clones this repository's HEAD into DIR (a temporary folder by default),
runs the whole toy study there from scratch (`dolos_reproduce`: toy data, every model, every table) with the
lower instruction set -- AVX2 for torch's ATen kernels (`ATEN_CPU_CAPABILITY`), for oneDNN's convolutions
(`ONEDNN_MAX_CPU_ISA`) and for numpy's dispatched loops (`NPY_DISABLE_CPU_FEATURES`) -- and compares the
clone's result tables with the committed ones (`dolos.agreement.compare_tables`). The rows, with both machines'
fingerprints, go to figures/isa_spread.csv, from which `dolos.agreement.tolerance` derives the cross-machine
tolerance that tests/test_reproduce.py applies. The committed tables must be those of a from-scratch run at
HEAD on this machine's own instruction set (figures/machine.json says so); the clone uses its own code
(PYTHONPATH), its own data and its own model cache, so nothing here is touched but figures/isa_spread.*.
About as long as the study itself (20-30 min on two cores). `--compare-only` skips the run and compares the
tables a finished clone already holds (after a change to the comparison, not to the study).
"""
import argparse, json, os, subprocess, sys, tempfile
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def lower_isa_env()->dict:
    "Environment variables that cap torch, oneDNN and numpy at AVX2 on this machine."
    from numpy._core._multiarray_umath import __cpu_dispatch__
    env = dict(os.environ, ATEN_CPU_CAPABILITY='avx2', ONEDNN_MAX_CPU_ISA='AVX2')
    avx512 = [f for f in __cpu_dispatch__ if f.startswith('AVX512')]   # numpy refuses to disable what it does not dispatch
    if avx512: env['NPY_DISABLE_CPU_FEATURES'] = ' '.join(avx512)
    return env


def run_study(clone:Path):
    "Clone HEAD into `clone` and run the toy study there from scratch with AVX2 kernels."
    if clone.exists(): raise SystemExit(f'{clone}: exists; give a new folder')
    subprocess.run(['git', 'clone', '--quiet', str(ROOT), str(clone)], check=True)
    env = lower_isa_env()
    env['PYTHONPATH'] = str(clone) + os.pathsep + env.get('PYTHONPATH', '')
    env.pop('DOLOS_DATA', None)
    print(f'running the toy study in {clone} with AVX2 kernels ...', flush=True)
    subprocess.run([str(BIN/'dolos_reproduce')], cwd=clone, env=env, check=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--clone', help='folder for the clone (must not exist); a temporary folder if not given')
    ap.add_argument('--compare-only', action='store_true', help='compare the tables of the finished clone at --clone; run nothing')
    args = ap.parse_args(argv)
    if args.compare_only and not args.clone: raise SystemExit('--compare-only needs --clone (a clone a finished run left)')
    from dolos.agreement import ISA_SPREAD, MACHINE_FILE, compare_tables, committed_file
    committed = partial(committed_file, root=ROOT)
    clone = Path(args.clone) if args.clone else Path(tempfile.mkdtemp(prefix='dolos-isa-'))/'dolos'
    if not args.compare_only: run_study(clone)
    elif not (clone/'figures'/MACHINE_FILE).is_file(): raise SystemExit(f'{clone}: no figures/{MACHINE_FILE}: not a finished run')
    rep = compare_tables(clone/'figures', committed)
    here, there = json.loads(committed(MACHINE_FILE)), json.loads((clone/'figures'/MACHINE_FILE).read_text())
    if here['torch_isa'] == there['torch_isa']: raise SystemExit(f'both runs used {here["torch_isa"]}: nothing was measured')
    rep = rep.assign(committed_isa=here['torch_isa'], other_isa=there['torch_isa'])
    out = ROOT/'figures'/ISA_SPREAD
    rep.to_csv(out, index=False, float_format='%.4f', lineterminator='\n')
    out.with_suffix('.md').write_text(rep.to_markdown(index=False, floatfmt='.4f') + '\n')
    print(rep.to_markdown(index=False, floatfmt='.4f'))
    print(f'wrote {out} and its .md')


if __name__ == '__main__':
    main()
