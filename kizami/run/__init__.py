"""A recipe's run: the calibration set, every build, the bf16 reference, each build's evaluation, the gates, and what
the run writes (results.json, the reports, the bundles). ``plan`` holds the steps, what each needs, the failure policy
and what gathers the outcomes; an executor runs them one after another (``pipeline``) or as tasks on a Ray cluster
(``on_ray``). It sits below the CLI and above everything that makes or measures a build (kizami.builders,
kizami.runtime): nothing under it is imported by those."""
