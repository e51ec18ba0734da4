set terminal pngcairo size 1400,560
set output 'bench/results/coding.png'
set multiplot layout 1,2 title 'coding/ benchmark, d = 1e6, s = 16 (Laplace, soft-thresholded, dithered)'
set logscale x
set xlabel 'density of the soft-thresholded vector'
set grid
set key top right
set logscale y
set ylabel 'bits per non-zero level'
set title 'bits of each coder'
plot 'bench/results/coding_plot.dat' u 1:2 w lp lw 2 t 'entropy n*H0', '' u 1:3 w lp lw 2 t 'sotto', '' u 1:4 w lp t 'Elias-omega', '' u 1:5 w lp t 'vsc', '' u 1:6 w lp t 'fixed', '' u 1:7 w lp t 'zstd -3', '' u 1:8 w lp t 'zstd -19'
unset logscale y
set yrange [0.9:3.5]
set ylabel 'bits / (n*H0)'
set title 'relative to the empirical order-0 entropy (payloads)'
plot 'bench/results/coding_plot.dat' u 1:($3/$2) w lp lw 2 t 'sotto', '' u 1:($4/$2) w lp t 'Elias-omega', '' u 1:($5/$2) w lp t 'vsc', '' u 1:($7/$2) w lp t 'zstd -3', '' u 1:($8/$2) w lp t 'zstd -19', 1.02 w l dt 2 t '1.02'
unset multiplot
