# Plots results/compare.tsv (written by TestCompare: under the build dir, or
# here with -update, i.e. make e2e-results): for each burst, the exact
# queue peak that three instances of the plugin reported (the kernel's
# mark, the eBPF probe, 100 ms sampling) against the highest backlog a 1 s
# poller saw. Run from e2e/: gnuplot results/compare.gp
set terminal pngcairo size 1100,540 font "sans,11"
set output "results/compare.png"
set title "Peak of the audit queue in 20 random bursts: exact (kernel mark, eBPF probe) vs sampling vs 1 s polling"
set xlabel "burst (200 to 6000 records, auditd running)"
set ylabel "records queued in the kernel"
set key top left
set offsets 0, 0, graph 0.22, 0
set grid ytics
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set yrange [0:*]
plot "results/compare.tsv" using 4:xtic(1) title "method=kernel (backlog\\_max\\_depth, exact)" lc rgb "#c0392b", \
     "" using 5 title "method=ebpf (eBPF probe, exact)" lc rgb "#e67e22", \
     "" using 6 title "method=sampled (AUDIT\\_GET every 100 ms)" lc rgb "#27ae60", \
     "" using 7 title "1 s polling of backlog (AUDIT\\_GET)" lc rgb "#2980b9"
