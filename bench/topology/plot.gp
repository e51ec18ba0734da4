# gnuplot script for bench/topology. Usage: gnuplot -e "dir='bench/results'" plot.gp
if (!exists("dir")) dir = "bench/results"
set terminal pngcairo size 1400,560 font ",10"
set output dir."/topology.png"
set multiplot layout 1,2 title "sotto topology: spectral gap and churn rewiring"

set title "Spectral gap 1 - |λ₂(W)| vs n (MH weights)"
set logscale xy
set xrange [10:1500]
set xlabel "nodes n"
set ylabel "spectral gap"
set key outside right top font ",9"
set grid
set format y "10^{%T}"
gap = dir."/topology_gap.tsv"
families = "ring torus hypercube exp regular:d=4 erdos(2ln(n)/n) complete star view:exp view:regular:d=4"
plot for [i=0:9] gap index i using (strcol(2) eq "mh" ? $3 : 1/0):4 with linespoints \
     title word(families, i+1) noenhanced

set title "Edges rewired per join or leave (log scale)"
set logscale xy
set format y "%g"
set xrange [40:1500]
set xlabel "nodes n"
set ylabel "edges added + removed per event"
rew = dir."/topology_rewiring.tsv"
constructions = "view:ring view:exp view:regular:d=4 view:regular:d=8 view:complete rank:ring rank:exp redraw:regular:d=4"
plot for [i=0:7] rew index i using 2:(($3+$5)/2) with linespoints \
     title word(constructions, i+1) noenhanced

unset multiplot
