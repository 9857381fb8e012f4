"""rvjax.stealing: query strategies and answer defences for model stealing through a prediction
API. The evaluator that trains substitutes and measures agreement and transfer is
rvjax.evaluators.stealing."""
from rvjax.stealing import queries
from rvjax.stealing.queries import (DEFENCES, STRATEGIES, check_budget, defend, poison_probs,
                                    random_queries, round_probs, smallest_margin)
