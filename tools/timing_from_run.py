"Write figures/reproduce.md from a finished from-scratch run's own files: its log (/usr/bin/time -v around dolos_reproduce) and runs/toy/record.jsonl."
import json, re, sys
from pathlib import Path
from dolos.reproduce import ReproduceReport, write_timing, EXPERIMENTS
log, record, out = Path(sys.argv[1]).read_text(), Path(sys.argv[2]), Path(sys.argv[3])
def secs(t):
    m = re.fullmatch(r'(?:(\d+) min )?(\d+) s', t.strip()); return 60 * int(m.group(1) or 0) + int(m.group(2))
events = [json.loads(l) for l in record.read_text().splitlines() if l.strip()]
rep = ReproduceReport('toy')
for name, t in re.findall(r'\] (\S+): done in ([^:]+): trained', log):
    rep.notebooks[name] = dict(seconds=secs(t), events=[e for e in events if e.get('notebook') == name])
assert list(rep.notebooks) == list(EXPERIMENTS), list(rep.notebooks)
data = secs(re.search(r'toy data ready \(([^)]+)\)', log).group(1))
total = secs(re.search(r'notebook\(s\) in ([^;]+);', log).group(1))
rss = int(re.search(r'Maximum resident set size \(kbytes\): (\d+)', log).group(1)) / 2 ** 20
write_timing(rep, data, total, out, rss_gb=rss)
print(out.read_text())
