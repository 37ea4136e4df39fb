"""The paper's characteristics, one file each; registered by name."""

from __future__ import annotations

from miniature.registry import Registry

# name -> one-line description; `miniature list characteristics` prints it
CHARACTERISTICS: Registry[str] = Registry("characteristic")
CHARACTERISTICS.add("errors", "prediction errors: Jaccard of the sets of SQuAD 2.0 questions each model gets wrong")
CHARACTERISTICS.add("representation", "data representation: per-point Jaccard of the K-nearest-neighbour sets "
                    "of models' CLS embeddings, before and after fine-tuning, swept over K")
CHARACTERISTICS.add("distribution", "data distribution: Jaccard of the sets of test points (NewsQA) each fine-tuned "
                    "model's Deep kNN detector calls out of distribution, swept over K")
CHARACTERISTICS.add("adversarial", "adversarial vulnerability: accuracy of every model fine-tuned on IMDB before and "
                    "after BERT-Attack (Table 3), and the Jaccard of the sets of reviews each one falls on")
