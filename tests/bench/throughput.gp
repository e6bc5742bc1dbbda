# Plot of `make bench`: acquire+release pairs/s against client threads.
# Usage: gnuplot -e "data='bench-throughput.dat'; out='plot.png'" throughput.gp
# Columns of data: clients semd_1sem semd_64sems echo_floor redis_1key
# redis_64keys (0 where a system was not run).
if (!exists("data")) data = 'bench-throughput.dat'
if (!exists("out")) out = 'bench-throughput.png'
set terminal pngcairo size 900,560 font ",11"
set output out
set title "semd throughput: acquire+release pairs/s (echo floor = round trips/s / 2)"
set xlabel "client threads (each: blocking request/response on its own connection)"
set ylabel "pairs per second"
set logscale x 2
set xtics (1, 16, 64)
set xrange [0.8:80]
set yrange [0:*]
set grid
set key outside right top
set datafile missing "0"
plot data using 1:4 with linespoints lw 2 pt 7 title "echo floor", \
     data using 1:2 with linespoints lw 2 pt 5 title "semd, 1 semaphore", \
     data using 1:3 with linespoints lw 2 pt 4 title "semd, 64 semaphores", \
     data using 1:5 with linespoints lw 2 pt 9 title "Redis Lua, 1 key", \
     data using 1:6 with linespoints lw 2 pt 8 title "Redis Lua, 64 keys"
