# Plots results/compare.tsv (written by TestCompare: under the build dir, or
# here with -update, i.e. make e2e-results): per interval, the
# exact queue peak the plugin reported against the highest backlog a 1 s
# poller saw. Run from e2e/: gnuplot results/compare.gp
set terminal pngcairo size 960,520 font "sans,11"
set output "results/compare.png"
set title "Audit queue peak per 5 s interval: kernel high-water mark vs 1 s polling (20 random bursts)"
set xlabel "5 s interval (bursts in 1-20, none in the last)"
set ylabel "records queued in the kernel"
set key top right
set offsets 0, 0, graph 0.18, 0
set grid ytics
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set yrange [0:*]
plot "results/compare.tsv" using 4:xtic(1) title "audisp-backlog (backlog\\_max\\_depth, exact)" lc rgb "#c0392b", \
     "" using 6 title "1 s polling of backlog (AUDIT\\_GET)" lc rgb "#2980b9"
