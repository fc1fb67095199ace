#!/bin/bash
# One run: albert_en_base random trainer checkpoint; ours vs Model Garden's export_tfhub.
#   bash docs/measurements/albert/measure.sh [DATA_DIR]   (DATA_DIR reused if it has ckpt/)
set -u
cd "$(dirname "$0")/../../.."
PY=$PWD/.venv/bin/python
B=/tmp/am; rm -rf $B; mkdir -p $B
D=${1:-$B/data}
export TF_USE_LEGACY_KERAS=1 TF_CPP_MIN_LOG_LEVEL=3
[ -d $D/ckpt ] || $PY docs/measurements/albert/make_base_checkpoint.py $D > $B/make.log 2>&1 || { echo make failed; tail $B/make.log; exit 1; }
CK=$D/ckpt/ckpt-1
du -sh $D/ckpt
tm() { name=$1; shift; /usr/bin/time -v "$@" > $B/$name.out 2> $B/$name.time; rc=$?;
  w=$(grep "Elapsed (wall" $B/$name.time | awk '{print $NF}'); m=$(grep "Maximum resident" $B/$name.time | awk '{print $NF}');
  echo "$name rc=$rc wall=$w peak_rss_kb=$m"; }
tm ours_verified $PY export_scripts/albert_export.py --gin_file=configs/albert/albert_en_base.gin --checkpoint_path=$CK --sp_model_file=$D/sp.model --export_dir=$B/ours
cat $B/ours_verified.out
tm ours_noverify $PY export_scripts/albert_export.py --gin_file=configs/albert/albert_en_base.gin --checkpoint_path=$CK --sp_model_file=$D/sp.model --export_dir=$B/ours_nv --noverify
cat $B/ours_noverify.out
tm mg_model_with_mlm $PY -m official.nlp.tools.export_tfhub --export_type=model_with_mlm --encoder_config_file=$D/encoder_config.yaml --model_checkpoint_path=$CK --sp_model_file=$D/sp.model --export_path=$B/mg_enc
tm mg_preprocessing $PY -m official.nlp.tools.export_tfhub --export_type=preprocessing --sp_model_file=$D/sp.model --default_seq_length=128 --export_path=$B/mg_pre
for d in ours/encoder ours/preprocessor mg_enc mg_pre; do
  echo "size $d: saved_model.pb $(stat -c %s $B/$d/saved_model.pb) variables $(du -sb $B/$d/variables | cut -f1) total $(du -sb --exclude=assets.extra $B/$d | cut -f1)"
done
for r in 1 2; do
for p in "ours/encoder encoder" "mg_enc encoder" "ours/preprocessor pre" "mg_pre pre"; do
  set -- $p; n=$(echo $1 | tr / _)
  echo "load $1 run$r: $($PY docs/measurements/albert/load_and_run.py $B/$1 $2 $B/$n.npz 2>/dev/null | grep LOAD_SECONDS)"
done; done
$PY - <<'PY'
import numpy as np
B='/tmp/am'
for a, b in (('ours_encoder', 'mg_enc'), ('ours_preprocessor', 'mg_pre')):
  x, y = np.load(f'{B}/{a}.npz'), np.load(f'{B}/{b}.npz')
  assert sorted(x.files) == sorted(y.files), (x.files, y.files)
  for k in sorted(x.files):
    d = np.abs(x[k].astype(np.float64) - y[k].astype(np.float64)).max()
    print(f'compare {a} vs {b} {k}: shape {x[k].shape} max abs diff {d:.3g}')
PY
