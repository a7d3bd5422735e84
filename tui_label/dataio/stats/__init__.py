"""Labeling statistics: per class, per annotator, and agreement between annotators.

Headless (no textual, no torch): ``tui-label stats`` prints it, the labeler's statistics
screen shows the same text. Everything is read from the store's event log.

Definitions (also in the README):

- **Per class**: the current labels of the images that are not missing (as the labeler's
  counts), and each class's share of them.
- **Per annotator**, from every event they wrote: ``labels`` (label events, neither undos nor
  reviews), ``skips``, ``undos``, the undo rate (undos per label or skip), ``accepted``
  suggestions (labels with source ``suggestion``) and ``reviews`` (source ``review``).
  *Active time* is the sum of the gaps between an annotator's consecutive events that are at
  most ``IDLE_GAP_SECONDS`` (1 minute) long: a longer gap is a break and counts nothing.
  Labels per minute is labels typed (imported ones are no keys) over active minutes (none
  under ``MIN_ACTIVE_SECONDS``, 30 s, of active time: two keys a second apart are no pace);
  the labeler's status line measures its pace by the same rule (``tui_label.core.pace``).
  Seconds on screen is the median of ``ms_on_screen`` over their labels and skips.
- **Agreement**: an annotator's *rating* of an image is their latest own label of it, undos
  applied (an undo takes back the event it undid, so the rating falls back to their label
  before it). A skip or clear is no rating, and reviews are not ratings (a review settles a
  disagreement; it is not an independent opinion). Images with ratings from two or more
  annotators are compared. Cohen's kappa is computed for each pair of annotators over the
  images both rated. Fleiss' kappa covers every such image, also with different numbers of
  raters per image: each image's agreement is ``sum n_ij (n_ij - 1) / (n_i (n_i - 1))``
  (``n_i`` raters, ``n_ij`` of them chose class ``j``), averaged over images with equal weight;
  chance agreement is ``sum p_j^2`` with ``p_j`` the share of class ``j`` among all ratings.
  With the same number of raters on each image this is Fleiss' (1971) kappa exactly. The
  confusion between annotators counts, over every image, each unordered pair of ratings by two
  annotators once, in both cells (a symmetric matrix; its diagonal is agreement). A kappa is
  ``None`` where it is undefined (chance agreement is 1: everyone used one class).

Multi-label mode (the database's mode is set, or an event holds a set of classes; an older
single label reads as a set of one): a rating is a set of classes. A class's count is the
images whose current set holds it, and its share is that over the labeled images (an image
counts for each class of its set: shares add up to more than 100%; the empty set counts as
labeled, for no class). Agreement is given two ways. *Exact set*: each distinct set is one
category, so two ratings agree when their sets are equal; the kappas above are computed over
those categories (with single labels only they are the single-label kappas). *Per class*:
each rating says "has the class" or not, a binary rating: Cohen's kappa per pair over the
images both rated (a 2x2 confusion: neither, only b, only a, both) and Fleiss' kappa over the
images with two or more raters. The class-by-class confusion matrix is left out (a pair of
sets has no one cell).

Modules: ``model`` (the result's types), ``agreement`` (kappas, ratings, agreement),
``compute`` (per annotator, everything from the store) and ``render`` (the text, with rich;
import it from there: computing never loads rich).
"""

from tui_label.dataio.stats.agreement import (
    agreement,
    cohen_kappa,
    fleiss_kappa,
    pair_agreements,
    ratings,
    set_agreement,
)
from tui_label.dataio.stats.compute import (
    DEFINITIONS,
    MIN_ACTIVE_SECONDS,
    MULTI_LABEL_DEFINITIONS,
    active_seconds,
    annotator_stats,
    compute,
    parse_time,
)
from tui_label.dataio.stats.model import (
    IDLE_GAP_SECONDS,
    Agreement,
    AnnotatorStat,
    ClassAgreement,
    ClassStat,
    Event,
    PairAgreement,
    Stats,
)

__all__ = [
    "DEFINITIONS", "IDLE_GAP_SECONDS", "MIN_ACTIVE_SECONDS", "MULTI_LABEL_DEFINITIONS",
    "Agreement", "AnnotatorStat", "ClassAgreement", "ClassStat", "Event", "PairAgreement",
    "Stats", "active_seconds", "agreement", "annotator_stats", "cohen_kappa", "compute",
    "fleiss_kappa", "pair_agreements", "parse_time", "ratings", "set_agreement",
]
