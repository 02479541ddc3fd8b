// The score list and chat log of the spectator's and replay pages. All
// player-made text goes in as textContent, never as markup.

import { peopleCount, textElement as el } from "./pages.js";

/** One row per player, best score first. */
export function renderScores(list, count, players) {
  const rows = [...players].sort((a, b) => (b.score ?? 0) - (a.score ?? 0));
  list.replaceChildren(...rows.map((p, i) => {
    const li = el("li", p.alive === false ? "dead" : "", "");
    if (p.away && !p.bot) li.classList.add("away"); // a seat kept for its player: dimmed, not counted
    li.dataset.id = p.id;
    const swatch = el("span", "swatch", "");
    swatch.style.color = p.color || "#2ee6a8";
    const name = el("span", "name", p.name || "");
    if (p.bot) name.append(" ", el("span", "bot", "bot"));
    else if (p.away) name.append(" ", el("span", "away-tag", "away"));
    li.append(el("span", "rank", String(i + 1)), swatch, name, el("span", "score", String(p.score ?? 0)));
    return li;
  }));
  if (count) count.textContent = peopleCount(rows);
}

/** A chat line (a spectator's has `player: null`). */
export function renderChat(log, { player, name, text }) {
  const li = el("li", player == null ? "chat-spectator" : "", "");
  li.append(el("span", "chat-name", `${name}${player == null ? " (watching)" : ""}: `), el("span", "chat-text", text));
  log.append(li);
  while (log.children.length > 100) log.firstElementChild.remove();
  log.scrollTop = log.scrollHeight;
}
