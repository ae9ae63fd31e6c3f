#!/usr/bin/env bash
# Wall time of the default (adaptive-streaming) ladder for a 60 s 1080p test
# clip: one ffmpeg with a split filter (what `mirrorcast encode` runs) against
# one ffmpeg per rendition (the naive way). Same machine, same run.
# Usage: tools/bench/encode-ladder.sh [seconds] [workdir]
set -euo pipefail
secs=${1:-60}
dir=${2:-$(mktemp -d)}
src="$dir/source 1080p.mp4"
x264="-preset veryfast -profile:v high -force_key_frames expr:gte(t,n_forced*2) -x264-params keyint=100:min-keyint=1:scenecut=0:open-gop=0 -movflags +faststart -f mp4"
rungs=(1920:1080:6000 1280:720:3400 960:540:2250 640:360:1000 480:270:600 320:180:400)

[ -f "$src" ] || ffmpeg -v error -f lavfi -i "testsrc2=size=1920x1080:rate=25:duration=$secs" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=$secs" \
  -c:v libx264 -preset ultrafast -crf 18 -c:a aac -ac 2 -y "$src"

one() {
  local filter="[0:v:0]split=${#rungs[@]}" maps=() i=0
  for r in "${rungs[@]}"; do filter+="[s$i]"; i=$((i+1)); done
  i=0
  for r in "${rungs[@]}"; do
    IFS=: read -r w h k <<<"$r"
    filter+=";[s$i]scale=$w:$h:flags=bicubic,setsar=1,format=yuv420p[v$i]"
    maps+=(-map "[v$i]" -an -c:v libx264 -b:v "${k}k" -maxrate "$((k + k / 10))k" -bufsize "$((k * 2))k" $x264 "file:$dir/one_${w}x${h}_$k.mp4")
    i=$((i+1))
  done
  ffmpeg -hide_banner -nostdin -v error -y -i "file:$src" -filter_complex "$filter" "${maps[@]}" \
    -map 0:a:0 -vn -c:a aac -b:a 128k -ac 2 -ar 48000 -movflags +faststart "file:$dir/one_AACAudio_128.mp4"
}

naive() {
  for r in "${rungs[@]}"; do
    IFS=: read -r w h k <<<"$r"
    ffmpeg -hide_banner -nostdin -v error -y -i "file:$src" -an -vf "scale=$w:$h:flags=bicubic,setsar=1,format=yuv420p" \
      -c:v libx264 -b:v "${k}k" -maxrate "$((k + k / 10))k" -bufsize "$((k * 2))k" $x264 "file:$dir/naive_${w}x${h}_$k.mp4"
  done
  ffmpeg -hide_banner -nostdin -v error -y -i "file:$src" -vn -c:a aac -b:a 128k -ac 2 -ar 48000 -movflags +faststart "file:$dir/naive_AACAudio_128.mp4"
}

t0=$(date +%s.%N); one; t1=$(date +%s.%N); naive; t2=$(date +%s.%N)
o=$(echo "$t1 - $t0" | bc); n=$(echo "$t2 - $t1" | bc)
printf 'source: %s s 1920x1080@25, ladder: %s + AAC 128k, x264 veryfast, nproc=%s\n' "$secs" "${rungs[*]}" "$(nproc)"
printf 'one ffmpeg, split filter:   %6.1f s\n' "$o"
printf 'one ffmpeg per rendition:   %6.1f s\n' "$n"
printf 'naive / split:              %6.2fx\n' "$(echo "$n / $o" | bc -l)"
