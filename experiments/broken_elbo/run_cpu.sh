#!/usr/bin/env bash
# The reduced study of "Fixing a Broken ELBO" at budget=cpu, as committed in this folder.
# Resumable: rerun the same script after a stop; finished runs are skipped.
#   RDFRAME_DATA_DIR=... bash experiments/broken_elbo/run_cpu.sh [OUT]      (OUT: runs/broken_elbo_cpu)
set -euo pipefail
out=${1:-runs/broken_elbo_cpu}
export OMP_NUM_THREADS=1
common=(experiment=broken_elbo budget=cpu hydra/launcher=joblib hydra.launcher.n_jobs=${JOBS:-2})
# all 12 families at β = 1
rdframe sweep "${common[@]}" encoder=conv,iaf decoder=conv,pixelcnn \
    marginal=standard_normal,vamp,maf objective.beta=1.0 hydra.sweep.dir="$out/families"
# β sweeps of the weakest family "−−−" and the richest "+++"
rdframe sweep "${common[@]}" encoder=conv decoder=conv marginal=standard_normal \
    objective.beta=0.1,0.3,3.0,10.0 hydra.sweep.dir="$out/beta_weakest"
# the target-rate remedy on "−+−", the PixelCNN that drifts to low rate at β = 1
rdframe sweep experiment=target_rate "${common[@]:1}" marginal=standard_normal \
    objective.sigma=10.0,30.0 hydra.sweep.dir="$out/target_rate"
rdframe sweep "${common[@]}" encoder=iaf decoder=pixelcnn marginal=maf \
    objective.beta=0.1,0.3,3.0,10.0 hydra.sweep.dir="$out/beta_richest"
# the table, the plane and the comparison figures (run from inside $out, so that the report
# names runs by their folders within it)
cd "$out"
rdframe report . --min-rate 5 --min-rate-gap 3 --csv report.csv > report.md
rdframe plot . -o rd_plane --min-rate-gap 3 --title "Fixing a Broken ELBO, reduced study (budget=cpu)"
python - <<'PY'
from pathlib import Path

from rdframe.evaluation.gallery import group_gallery
from rdframe.results import find_results

runs = find_results(["families/3", "target_rate"])  # "−+−" at β = 1, then σ = 10 and 30
group_gallery(runs, Path("target_rate_remedy"),
              title="−+− (PixelCNN decoder): β = 1, then target rates σ = 10 and 30 nats")
PY
