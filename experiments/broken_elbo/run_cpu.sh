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
rdframe report "$out" --min-rate 5 --csv "$out/report.csv" > "$out/report.md"
rdframe plot "$out" -o "$out/rd_plane"
