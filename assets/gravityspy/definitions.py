"""LIGO Gravity Spy glitches: landed spectrogram PNGs → Spark image table → GX checks → the shared
lifecycle (the seed's LinearSVC against PCA + logistic regression and a multi-view CNN) → champion.

Landing: ``<landing>/gravityspy/<Class>/<ifo>_<id>_spectrogram_<duration>.png`` (labelled) and
``<landing>/gravityspy/unlabelled/...``. A glitch is four files, so the landing sensor requests one
``gravityspy_ingest`` run per batch of new or changed files, not one per PNG. The run decodes only
the PNGs no earlier run decoded at their current version (Spark's ``binaryFile`` source, decoding in
``mapInPandas``) into the per-file decoded table (``tables/gravityspy/decoded/slot=…``, keyed by
object key + version; rows of files gone from the landing are dropped), then rewrites the glitch
table whole from the decoded rows (a re-run never duplicates; a glitch whose views landed in two
batches is whole in the second). Files that cannot be used are quarantined with their reason
(``tables/gravityspy/quarantine``); files in = kept + quarantined.

The class list is ``FLYWHEEL_GRAVITYSPY_CLASSES`` (default: the 22 Gravity Spy classes); a class
folder outside it is quarantined (``unknown_class``), not guessed. The classifier's classes are
those of the data.

Records on ``gravityspy.records``: ``id, ifo, spectrogram_0.5 … spectrogram_4.0`` (base64 PNG bytes,
or ``<name>_uri``). The frozen holdout is scored through the ``_uri`` form (the landed files).
``gravityspy_trainer_report`` trains every trainer on the training set and scores it on the frozen
holdout, so the seed's baseline is reported beside the challengers (macro F1, ROC AUC, accuracy).

PySpark, pandas, Pillow, GX and the trainers are imported where they are used.
"""

from dagster import AssetCheckKey

from assets.gravityspy.assets import (
    GLITCHES,
    accept,
    data_checks,
    gravityspy_glitches,
    ingested_keys,
    trainer_report_asset,
)
from assets.gravityspy.layout import USE_CASE
from assets.gravityspy.quality import glitch_checks
from assets.gravityspy.records import CONTENT_HASH, RECORD_COLUMNS
from assets.gravityspy.schema import RECORD_SCHEMA
from assets.gravityspy.simulation import MAX_MESSAGE_BYTES
from assets.lifecycle.spec import ContentKey, LifecycleSpec
from assets.loop.factory import LoopSpec
from assets.usecase import BatchIngest, UseCase

SPEC = LifecycleSpec(
    use_case=USE_CASE,
    source=GLITCHES,
    # The contract's columns; the holdout has the `_uri` form (its rows point at the landed files).
    record_columns=RECORD_COLUMNS,
    trainers="assets.gravityspy.model:TRAINERS",
    extra_trainers="assets.gravityspy.model:EXTRA_TRAINERS",
    primary_metric="macro_f1",
    # Absolute floor: beat the best constant guess on the holdout by 10 points of accuracy.
    thresholds={"accuracy_lift": 0.10},
    tolerance=0.02,
    task="multiclass",
    # Few glitches per class in a bundled sample: a larger holdout keeps its metrics meaningful.
    holdout_fraction=0.3,
    validation_fraction=0.3,
    data_checks=[AssetCheckKey(GLITCHES, c.name) for c in glitch_checks()],
    pip_requirements="assets.gravityspy.model:pip_requirements",
    annotations=True,
    # A glitch is its four grids: the same pixels under another id (a copy, a re-emitted record, an
    # annotation of one) are the same glitch.
    content_key=ContentKey(text=(CONTENT_HASH,)),
    holdout_inputs="assets.gravityspy.records:frozen_records",
)

LOOP = LoopSpec(
    schema=RECORD_SCHEMA,  # key id; the four views decoded by its prepare hook
    strategy="margin",  # a glitch between two classes is what a person settles best
    budget=10,
    batch_size=50,  # ~0.8 MB a record: 50 records a batch keep a scoring run's memory small
    retrain_min_labels=20,
    max_message_bytes=MAX_MESSAGE_BYTES,  # four PNGs in base64: up to ~2 MB a record
)

use_case = UseCase(
    name=USE_CASE,
    spec=SPEC,
    ingest=BatchIngest(
        gravityspy_glitches,
        accept,
        ingested_keys,
        "Decode every landed spectrogram into the glitch table (one run per batch of new files).",
    ),
    loop=LOOP,
    assets=(trainer_report_asset(SPEC),),
    checks=data_checks,
    train_description="Ingest the landed PNGs, check them, train challengers, evaluate, promote through the "
    "gate; the holdout report of every trainer beside the seed's baseline.",
    simulator="assets.gravityspy.simulation",
    generator="assets.gravityspy.commands:generate",
    summary="LIGO glitches: one of 22 Gravity Spy classes per four-view spectrogram, macro F1.",
)
defs = use_case.definitions()
