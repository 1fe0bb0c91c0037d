"""Report section for how the models met the data: fold routing, cross-corpus, label map."""

from __future__ import annotations

import html

__all__ = ["evaluation_html"]


def _e(value) -> str:
    return html.escape(str(value))


def _classes(items) -> str:
    return ", ".join(map(str, items)) or "none"


def evaluation_html(info: dict) -> str:
    """HTML for run.json's ``evaluation`` record; empty for a plain same-corpus run."""
    ev = info.get("evaluation") if isinstance(info.get("evaluation"), dict) else {}
    models = ev.get("models") or {}
    lm = ev.get("label_map")
    if not lm and all(m.get("relation") != "cross" for m in models.values()):
        return ""
    rows = []
    for name, m in sorted(models.items()):
        as_ = m.get("evaluated_as")
        as_ = as_ if isinstance(as_, str) or not as_ else ", ".join(as_)  # a text for --ensemble
        how = ("fold k's model on fold k's speakers" if m.get("fold_routing")
               else "every utterance" + (f" (as {as_})" if as_ else ""))
        rows.append(f"<tr><td>{_e(name)}</td><td>{_e(m.get('relation', '?'))}</td><td>{_e(how)}</td>"
                    f"<td>{_e(_classes(m.get('training_data_source') or []))}</td></tr>")
    out = ["<h2>Evaluation protocol</h2><table><thead><tr><th>model</th><th>relation to the data"
           "</th><th>evaluates</th><th>trained on</th></tr></thead><tbody>" + "".join(rows)
           + "</tbody></table>"]
    if lm:
        mapped = "".join(
            f"<tr><td>{_e(name)}</td><td>{_e(', '.join(f'{k} → {v}' for k, v in pm['model_to_shared'].items()))}"
            f"</td><td>{_e(_classes(pm['dropped_model_classes']))}</td></tr>"
            for name, pm in sorted((lm.get("per_model") or {}).items()))
        removed = ", ".join(f"{k}: {v}" for k, v in (lm.get("removed_by_emotion") or {}).items())
        out.append(
            f"<p>Label map <b>{_e(lm.get('name'))}</b>: shared classes "
            f"<b>{_e(_classes(lm.get('shared_classes', [])))}</b>; probabilities restricted to them "
            "and renormalised.</p><table><thead><tr><th>model</th><th>mapped classes</th>"
            f"<th>dropped model classes</th></tr></thead><tbody>{mapped}</tbody></table>"
            f"<p>Data: {_e(', '.join(f'{k} → {v}' for k, v in (lm.get('data_to_shared') or {}).items()))}; "
            f"dropped data classes: {_e(_classes(lm.get('dropped_data_classes', [])))}; "
            f"{_e(lm.get('removed_utterances', 0))} utterance(s) removed ({_e(removed or 'none')}; "
            "each listed in problems.csv, stage label_map), "
            f"{_e(lm.get('evaluated_utterances', '?'))} evaluated.</p>")
    return "".join(out)
