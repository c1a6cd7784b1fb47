"""The mutants of ``make mutation``: one plausible wrong number each, in the code between the
objective and the rate–distortion plane, and the tests that should catch it.

A mutant replaces one exact snippet ``old`` (found once in ``file``) by ``new``. ``tests`` are
pytest arguments, the fastest and likeliest killers first (``-x`` stops at the first failure);
the mutated file's own doctests run before them. ``planted`` marks the bugs named in issue 13:
the five that once passed the whole suite, and the six model-side ones it already caught.
``note`` says why a mutant that survives is harmless (an equivalent mutant) or which test
would kill it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str
    old: str
    new: str
    tests: tuple[str, ...]
    planted: str = ""  # "survived" (passed the suite before issue 13) or "caught" (already)
    note: str = ""


T = "tests/"
GOLDEN_EXACT = T + "test_golden.py::test_a_seeded_run_reports_the_exact_values_of_its_model"
DDP = T + "test_cli.py::test_ddp_on_two_cpu_processes_logs_what_one_process_logs"
DDP_IB = T + "test_cli.py::test_ddp_bottleneck_error_is_the_error_one_process_finds"
BETA_IN_FORCE = T + "test_system.py::test_the_optimiser_minimises_the_loss_of_the_beta_in_force"
IB_RUN = T + "test_ib.py::test_a_bottleneck_run_reports_its_cross_entropy_and_no_elbo"
BPD = T + "test_evaluate.py::test_bits_per_dimension_only_for_a_discrete_likelihood"

MODEL = (T + "test_model.py", T + "test_linear_gaussian.py", T + "test_estimators.py",
         GOLDEN_EXACT, T + "test_evaluate.py")
OBJECTIVES = (T + "test_objectives.py", T + "test_model.py", T + "test_system.py")
ESTIMATORS = (T + "test_estimators.py", T + "test_model.py", T + "test_linear_gaussian.py",
              T + "test_evaluate.py", T + "test_ib.py", GOLDEN_EXACT)
SYSTEM = (T + "test_system.py", T + "test_objectives.py", T + "test_ib.py", GOLDEN_EXACT, DDP)
EVALUATE = (T + "test_evaluate.py",)
REPEATS = (T + "test_evaluate_repeats.py", T + "test_evaluate.py")
RESULTS = (T + "test_plot_report.py", T + "test_evaluate.py")
VIEWS = (T + "test_plot_report.py",)

MODEL_PY, OBJECTIVES_PY = "rdframe/model.py", "rdframe/objectives.py"
ESTIMATORS_PY, SYSTEM_PY = "rdframe/estimators.py", "rdframe/system.py"
EVALUATE_PY, RESULTS_PY = "rdframe/evaluate.py", "rdframe/results.py"
REPORT_PY, PLOT_PY = "rdframe/evaluation/report.py", "rdframe/evaluation/plot.py"
SELECT_PY = "rdframe/evaluation/select.py"
BERNOULLI_PY = "rdframe/decoders/bernoulli.py"
DECODERS = (T + "test_bernoulli_likelihood.py", T + "test_contract.py", T + "test_evaluate.py")

MUTANTS = [
    # --- the bugs that passed the whole suite before issue 13 --------------------------------
    Mutant("system: the loss at step 0 on every step (β schedule never reaches the optimiser)",
           SYSTEM_PY, "self.objective.loss(terms, self.global_step)",
           "self.objective.loss(terms, 0)", (BETA_IN_FORCE, *SYSTEM), planted="survived"),
    Mutant("system: R, D, ELBO and loss logged with sync_dist=False (rank 0's mean under DDP)",
           SYSTEM_PY, "batch_size=len(terms.rate), sync_dist=True",
           "batch_size=len(terms.rate), sync_dist=False", (DDP,), planted="survived"),
    Mutant("plot: axes swapped (R on x, D on y)", PLOT_PY,
           "_scatter_families(ax, results, d, rates,", "_scatter_families(ax, results, rates, d,",
           VIEWS,
           planted="survived"),
    Mutant("report: the R and D columns swapped", REPORT_PY,
           "[[_cell(c, _value(r, c, front)) for c in cols]",
           '[[_cell(c, _value(r, {"rate": "distortion", "distortion": "rate"}.get(c, c), front)) '
           "for c in cols]", VIEWS, planted="survived"),
    Mutant("estimators: the rate doubled in rd_terms (what `rdframe evaluate` reports)",
           ESTIMATORS_PY, "rate = torch.cat([p.rate for p in parts])",
           "rate = 2 * torch.cat([p.rate for p in parts])", EVALUATE, planted="survived"),
    # --- the model-side bugs the suite already caught ----------------------------------------
    Mutant("estimators: log-mean-exp without −log k", ESTIMATORS_PY,
           "return total - math.log(count)", "return total", ESTIMATORS, planted="caught"),
    Mutant("model: the rate's sign flipped", MODEL_PY,
           "rate = log_e - self.marginal().log_prob(z)  # (S, B)",
           "rate = self.marginal().log_prob(z) - log_e  # (S, B)", MODEL, planted="caught"),
    Mutant("model: a mean in place of log-mean-exp in IWAE", MODEL_PY,
           "return log_mean_exp(importance_log_weights(self, x, samples, chunk_size))",
           "return torch.cat(list(importance_log_weights(self, x, samples, chunk_size))).mean(0)",
           MODEL, planted="caught"),
    Mutant("model: distortion averaged over pixels", MODEL_PY,
           "distortion = -self.decoder.log_likelihood(z, target)  # (S, B)",
           "distortion = -self.decoder.log_likelihood(z, target) / target[0].numel()  # (S, B)",
           MODEL, planted="caught"),
    Mutant("model: log-densities averaged over latent dimensions", MODEL_PY,
           "rate = log_e - self.marginal().log_prob(z)  # (S, B)",
           "rate = (log_e - self.marginal().log_prob(z)) / z.shape[-1]  # (S, B)", MODEL,
           planted="caught"),
    Mutant("pixelcnn: a horizontal type-A mask that sees the current pixel",
           "rdframe/decoders/masked.py",
           'mask[0, : kernel_size // 2 + (mask_type == "B")] = 1.0',
           "mask[0, : kernel_size // 2 + 1] = 1.0", (T + "test_pixelcnn.py",), planted="caught"),
    # --- model.py ----------------------------------------------------------------------------
    Mutant("model: ELBO = −(R − D)", MODEL_PY, "return -(self.rate + self.distortion)",
           "return -(self.rate - self.distortion)", MODEL),
    Mutant("model: the rate summed over samples", MODEL_PY,
           "RDTerms(rate=_wide(rate).mean(0), distortion=_wide(distortion).mean(0))",
           "RDTerms(rate=_wide(rate).sum(0), distortion=_wide(distortion).mean(0))", MODEL),
    Mutant("model: only the first of the samples used", MODEL_PY,
           "RDTerms(rate=_wide(rate).mean(0), distortion=_wide(distortion).mean(0))",
           "RDTerms(rate=_wide(rate)[0], distortion=_wide(distortion)[0])", MODEL),
    Mutant("model: `samples` ignored (one draw of z)", MODEL_PY,
           "rsample_and_log_prob(posterior, torch.Size([samples]))",
           "rsample_and_log_prob(posterior, torch.Size([1]))", MODEL),
    Mutant("model: the analytic KL reversed, KL(m ‖ e)", MODEL_PY,
           "analytic_kl(posterior, self.marginal())", "analytic_kl(self.marginal(), posterior)",
           MODEL),
    Mutant("model: the target ignored (a classifier scores x)", MODEL_PY,
           "target = x if target is None else target", "target = x",
           (T + "test_ib.py", *MODEL)),
    Mutant("model: sample() ignores the marginal", MODEL_PY,
           "z = self.marginal().sample(torch.Size([n]))",
           "z = torch.randn(n, self.marginal().event_shape[0])", MODEL),
    # --- objectives.py -----------------------------------------------------------------------
    Mutant("objectives: BetaVAE uses β(0) at every step", OBJECTIVES_PY,
           "return terms.distortion + self.beta(step) * terms.rate",
           "return terms.distortion + self.beta(0) * terms.rate", OBJECTIVES),
    Mutant("objectives: β weighs the distortion", OBJECTIVES_PY,
           "return terms.distortion + self.beta(step) * terms.rate",
           "return terms.rate + self.beta(step) * terms.distortion", OBJECTIVES),
    Mutant("objectives: target rate per example, |σ − R_i|", OBJECTIVES_PY,
           "(self.sigma - terms.rate.mean()).abs()", "(self.sigma - terms.rate).abs()",
           OBJECTIVES),
    Mutant("objectives: target rate without the absolute value", OBJECTIVES_PY,
           "(self.sigma - terms.rate.mean()).abs()", "(self.sigma - terms.rate.mean())",
           OBJECTIVES),
    Mutant("objectives: ELBO with β = 0.5", OBJECTIVES_PY, "super().__init__(beta=1.0)",
           "super().__init__(beta=0.5)", OBJECTIVES),
    Mutant("objectives: target rate logs β = 0", OBJECTIVES_PY,
           "    def beta(self, step: int) -> float:\n        return 1.0",
           "    def beta(self, step: int) -> float:\n        return 0.0", OBJECTIVES),
    # --- estimators.py -----------------------------------------------------------------------
    Mutant("estimators: log-mean-exp counts only the last chunk", ESTIMATORS_PY,
           "count += len(chunk)", "count = len(chunk)", ESTIMATORS),
    Mutant("estimators: chunks combined by max instead of log-add-exp", ESTIMATORS_PY,
           "torch.logaddexp(total, part)", "torch.maximum(total, part)", ESTIMATORS),
    Mutant("estimators: importance weight without −log e(z|x)", ESTIMATORS_PY,
           "marginal.log_prob(z) - log_e\n", "marginal.log_prob(z)\n", ESTIMATORS),
    # --- decoders/bernoulli.py: log d(x|z) without the distribution, for evaluations ---------
    Mutant("decoders: the Bernoulli fast path without the bias's bᵀx", BERNOULLI_PY,
           "agreement = agreement + x @ head.bias", "agreement = agreement", DECODERS),
    Mutant("decoders: the fast path taken where a gradient is wanted", BERNOULLI_PY,
           "return (not torch.is_grad_enabled() and", "return (True and", DECODERS),
    Mutant("decoders: x's support unchecked on the fast path", BERNOULLI_PY,
           "    if Distribution._validate_args:  #", "    if False:  #", DECODERS),
    Mutant("decoders: a NaN of the fast path not handed to the distribution's checks",
           BERNOULLI_PY, "if not (Distribution._validate_args and bool(scored.isnan().any())):",
           "if True:", (*DECODERS, T + "test_guards.py")),
    Mutant("system: the gradient check reads only the first gradient", SYSTEM_PY,
           "for grad in grads:", "for grad in grads[:1]:", (T + "test_guards.py",)),
    # --- evaluate.py: a killed evaluation resumes from its kept blocks --------------------------
    Mutant("evaluate: the kept blocks scored again on resume", EVALUATE_PY,
           "if j not in done]", "if True]", EVALUATE),
    Mutant("evaluate: kept blocks not tied to the checkpoint", EVALUATE_PY,
           'name = f"{split}-k{samples}-n{examples}-{device}-{digest.hexdigest()[:16]}"',
           'name = f"{split}-k{samples}-n{examples}-{device}"', EVALUATE),
    Mutant("evaluate: one seed's kept blocks read for another", EVALUATE_PY,
           'store.glob(f"seed{seed}-*.pt")', 'store.glob("seed*-*.pt")', EVALUATE),
    Mutant("estimators: the last chunk draws a full chunk (k too large)", ESTIMATORS_PY,
           "n = min(chunk_size, samples - start)", "n = chunk_size", ESTIMATORS),
    Mutant("estimators: bits per example instead of per dimension", ESTIMATORS_PY,
           "return nats / (dims * math.log(2))", "return nats / math.log(2)",
           (*ESTIMATORS, T + "test_system.py")),
    Mutant("estimators: rd_terms ignores `samples`", ESTIMATORS_PY,
           "model.terms(xs, ts, samples)", "model.terms(xs, ts)", ESTIMATORS),
    Mutant("estimators: rd_terms scores x for a classifier", ESTIMATORS_PY,
           "targets = x.split(size) if target is None else target.split(size)",
           "targets = x.split(size)", ESTIMATORS),
    Mutant("estimators: aggregate posterior without −log N", ESTIMATORS_PY,
           "return log_mean_exp(posterior.log_prob(z).T for posterior in posteriors)",
           "return torch.cat([posterior.log_prob(z).T for posterior in posteriors]).logsumexp(0)",
           ESTIMATORS),
    Mutant("estimators: aggregate-posterior MI sign flipped", ESTIMATORS_PY,
           "total += (log_e - _pairwise_log_density(posteriors, z)).sum().item()",
           "total += (_pairwise_log_density(posteriors, z) - log_e).sum().item()", ESTIMATORS),
    Mutant("estimators: aggregate-posterior MI divided by the number of chunks", ESTIMATORS_PY,
           "return total / len(x)", "return total / len(posteriors)", ESTIMATORS),
    Mutant("estimators: activity measured across units, not examples", ESTIMATORS_PY,
           "variance = column_covariance(first, second)",
           "variance = column_covariance(first.T, second.T)", ESTIMATORS),
    Mutant("estimators: activity from one Monte-Carlo mean (its noise counted as activity)",
           ESTIMATORS_PY, "return z[: samples // 2].mean(0), z[samples // 2 :].mean(0)",
           "return z.mean(0), z.mean(0)", ESTIMATORS),
    Mutant("estimators: active when variance ≥ threshold (not >)", ESTIMATORS_PY,
           "int((variance > threshold).sum())", "int((variance >= threshold).sum())",
           ESTIMATORS,
           note="Equivalent: a unit's variance equals 0.01 exactly with probability zero."),
    Mutant("estimators: posterior mean by Monte Carlo even when exact", ESTIMATORS_PY,
           "        return posterior.mean, posterior.mean\n",
           "        raise NotImplementedError\n",
           ESTIMATORS),
    Mutant("estimators: KL per dimension summed over examples", ESTIMATORS_PY,
           "return torch.cat(parts).mean(0)", "return torch.cat(parts).sum(0)", ESTIMATORS),
    Mutant("estimators: predictive error from one draw, not the averaged probabilities",
           ESTIMATORS_PY, "probs = model.decoder(z).probs.mean(0)",
           "probs = model.decoder(z[0]).probs", ESTIMATORS),
    Mutant("estimators: accuracy counted as error", ESTIMATORS_PY,
           "int((probs.argmax(-1) != ys).sum())", "int((probs.argmax(-1) == ys).sum())",
           ESTIMATORS),
    Mutant("estimators: label entropy in bits", ESTIMATORS_PY,
           "return float(-(p * p.log()).sum())", "return float(-(p * p.log2()).sum())",
           ESTIMATORS),
    # --- system.py ---------------------------------------------------------------------------
    Mutant("system: IWAE logged with sync_dist=False", SYSTEM_PY,
           "values, batch_size=len(x), sync_dist=True",
           "values, batch_size=len(x), sync_dist=False", (DDP,)),
    Mutant("system: test error logged with sync_dist=False", SYSTEM_PY,
           'self.log("test/error", error, batch_size=len(y), sync_dist=True)',
           'self.log("test/error", error, batch_size=len(y), sync_dist=False)', (DDP_IB,)),
    Mutant("system: batch means not weighted by batch size", SYSTEM_PY,
           "batch_size=len(terms.rate), sync_dist=True", "batch_size=1, sync_dist=True",
           (DDP, *SYSTEM)),
    Mutant("system: logged ELBO with the wrong sign", SYSTEM_PY, '"elbo": terms.elbo',
           '"elbo": -terms.elbo', SYSTEM),
    Mutant("system: IWAE NLL with the wrong sign", SYSTEM_PY,
           "nll = -iwae_log_likelihood(self.model, x, self.iwae_samples, self.iwae_rows).mean()",
           "nll = iwae_log_likelihood(self.model, x, self.iwae_samples, self.iwae_rows).mean()",
           SYSTEM),
    Mutant("system: IWAE with k = 1 whatever iwae_samples says", SYSTEM_PY,
           "iwae_log_likelihood(self.model, x, self.iwae_samples, self.iwae_rows)",
           "iwae_log_likelihood(self.model, x, 1, self.iwae_rows)", SYSTEM),
    Mutant("system: evaluation batches seeded by their index on the rank, not in the split",
           SYSTEM_PY, "return BatchShards.global_index(batch_idx, self.global_rank, world)",
           "return batch_idx", (DDP,)),
    Mutant("system: bits per image instead of per dimension", SYSTEM_PY,
           "bits_per_dim(nll, x[0].numel())", "bits_per_dim(nll, x.numel())", SYSTEM),
    Mutant("system: logged β at step 0", SYSTEM_PY,
           'self.log("beta", self.objective.beta(self.global_step)',
           'self.log("beta", self.objective.beta(0)', SYSTEM),
    Mutant("system: the bottleneck scores x instead of the label", SYSTEM_PY,
           'target=y if self.objective.target == "y" else x', "target=x", SYSTEM),
    Mutant("system: the logged loss is the distortion alone", SYSTEM_PY,
           'values[f"{stage}/loss"] = loss', 'values[f"{stage}/loss"] = terms.distortion.mean()',
           SYSTEM),
    Mutant("system: the bottleneck's best checkpoint chosen by D_y + R, not D_y", SYSTEM_PY,
           'return -terms.elbo if self.objective.target == "x" else terms.distortion',
           "return -terms.elbo", (IB_RUN, *SYSTEM)),
    Mutant("system: bits per dimension of a Gaussian density", SYSTEM_PY,
           "if discrete_likelihood(self.model):", "if True:", (BPD,)),
    # --- evaluate.py -------------------------------------------------------------------------
    Mutant("evaluate: ELBO = −(R − D)", EVALUATE_PY, '"elbo": -(rate + distortion)',
           '"elbo": -(rate - distortion)', EVALUATE),
    Mutant("evaluate: I(X;Z) upper bound is the distortion", EVALUATE_PY,
           'metrics["ixz_upper"] = rate', 'metrics["ixz_upper"] = distortion', EVALUATE),
    Mutant("evaluate: bits per image instead of per dimension", EVALUATE_PY,
           '"iwae_bpd": bits_per_dim(nll_mean, x[0].numel())',
           '"iwae_bpd": bits_per_dim(nll_mean, x.numel())', EVALUATE),
    Mutant("evaluate: I(X;Z) lower bound H − R", EVALUATE_PY, "else entropy - distortion",
           "else entropy - rate", EVALUATE),
    Mutant("evaluate: I(Z;Y) lower bound H(Y) − R", EVALUATE_PY, '"izy_lower": h_y - distortion',
           '"izy_lower": h_y - rate', EVALUATE),
    Mutant("evaluate: an ELBO for the bottleneck, −(D_y + R)", EVALUATE_PY,
           '{"elbo": None} | _bottleneck_metrics', '{"elbo": -(rate + distortion)} | '
           "_bottleneck_metrics", EVALUATE),
    Mutant("evaluate: bits per dimension of a Gaussian density", EVALUATE_PY,
           "x[0].numel()) if discrete else None", "x[0].numel())", (BPD,)),
    Mutant("evaluate: --samples ignored", EVALUATE_PY, "samples or cfg.iwae_samples",
           "cfg.iwae_samples", EVALUATE),
    Mutant("evaluate: the checkpoint's weights not loaded", EVALUATE_PY,
           'check_weights(path, read_checkpoint(path, required=("state_dict",)), system)',
           'read_checkpoint(path, required=("state_dict",))', EVALUATE),
    Mutant("evaluate: not seeded by the run's seed", EVALUATE_PY,
           "        torch.manual_seed(seed)\n        metrics = evaluate_model(",
           "        torch.seed()\n        metrics = evaluate_model(", EVALUATE),
    Mutant("evaluate: --repeats reports the last estimate, not their mean", EVALUATE_PY,
           "nll_mean = sum(values) / len(values)", "nll_mean = values[-1]", REPEATS),
    Mutant("evaluate: --repeats spread with n, not n − 1", EVALUATE_PY,
           "torch.tensor(values, dtype=torch.float64).std()",
           "torch.tensor(values, dtype=torch.float64).std(correction=0)", REPEATS),
    Mutant("evaluate: every split overwrites the top-level (test) numbers", EVALUATE_PY,
           'if split == "test":\n        record.update(metrics)',
           "if True:\n        record.update(metrics)", EVALUATE),
    Mutant("evaluate: a classifier scored on x", EVALUATE_PY,
           'rd_terms(model, x, y if objective.target == "y" else None)', "rd_terms(model, x)",
           EVALUATE),
    Mutant("evaluate: every split read from the validation loader", EVALUATE_PY,
           'loader = getattr(data, f"{split}_dataloader")()', "loader = data.val_dataloader()",
           EVALUATE),
    Mutant("evaluate: the model left in training mode", EVALUATE_PY,
           "    model.eval()\n    check_target(model, objective)",
           "    check_target(model, objective)",
           EVALUATE,
           note="Equivalent: no component has dropout or batch normalisation, so train and "
                "eval modes compute the same function (test_contract checks train/eval "
                "consistency of every component)."),
    # --- results.py --------------------------------------------------------------------------
    Mutant("results: family named encoder/marginal/decoder", RESULTS_PY,
           "choices = (self.encoder, self.decoder, self.marginal)",
           "choices = (self.encoder, self.marginal, self.decoder)", RESULTS),
    Mutant("results: rd.json written with its own path", RESULTS_PY,
           'record = {k: v for k, v in asdict(self).items() if k != "path"}',
           "record = asdict(self)", RESULTS),
    Mutant("results: a record is finite when any of R, D, ELBO is", RESULTS_PY,
           "return all(math.isfinite(v)", "return any(math.isfinite(v)", RESULTS),
    Mutant("results: runs found in file-system order, not path order", RESULTS_PY,
           "files.extend(sorted(path.rglob(RESULTS_FILE)))",
           "files.extend(path.rglob(RESULTS_FILE))", RESULTS),
    # --- evaluation/report.py ----------------------------------------------------------------
    Mutant("report: two decimals", REPORT_PY, 'f"{value:.3f}" if isinstance',
           'f"{value:.2f}" if isinstance', VIEWS),
    Mutant("report: β in fixed point (1e-4 prints as 0.000)", REPORT_PY,
           'return f"{value:g}"', 'return f"{value:.3f}"', VIEWS),
    Mutant("report: rows in file order, not by data set, family and β", REPORT_PY,
           "ordered = sorted(results, key=_order)", "ordered = list(results)", VIEWS),
    Mutant("report: CSV without its header", REPORT_PY, "writer.writerow(columns(results))",
           "writer.writerow([])", VIEWS),
    Mutant("report: a missing value printed as 0", REPORT_PY, 'return "—"', 'return "0"', VIEWS),
    # --- evaluation/plot.py ------------------------------------------------------------------
    Mutant("plot: colour by rate instead of β", PLOT_PY, "c=betas[idx]", "c=y[idx]", VIEWS),
    Mutant("plot: β colour scale linear where it should be logarithmic", PLOT_PY,
           "return LogNorm(positive.min(), positive.max())",
           "return Normalize(positive.min(), positive.max())", VIEWS),
    Mutant("plot: frontier keeps points of equal rate", SELECT_PY, "if r < best_rate:",
           "if r <= best_rate:", VIEWS),
    Mutant("plot: frontier sorted by rate instead of distortion", SELECT_PY,
           "key=lambda p: (p[0], p[1])", "key=lambda p: (p[1], p[0])", VIEWS),
    Mutant("plot: iso-ELBO lines drawn as R = D", PLOT_PY, "ax.plot([d_low, c], [c - d_low, 0],",
           "ax.plot([d_low, c], [0, c - d_low],", VIEWS),
    Mutant("plot: bound drawn as R = D", PLOT_PY,
           "ax.plot([d_low, entropy], [entropy - d_low, 0],",
           "ax.plot([d_low, entropy], [0, entropy - d_low],", VIEWS),
    Mutant("plot: the data's entropy ignored", PLOT_PY,
           "entropy = _one([r.entropy for r in results])", "entropy = None",
           VIEWS),
    Mutant("plot: axis labels swapped", PLOT_PY,
           'xlabel="distortion D (nats)", ylabel="rate R (nats)"',
           'xlabel="rate R (nats)", ylabel="distortion D (nats)"', VIEWS),
]
