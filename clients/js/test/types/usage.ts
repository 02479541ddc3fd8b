// Compiled (never run) by `npm run typecheck` against dist/*.d.ts, the way a
// TypeScript project uses the package: the declarations must fit together.
import { MmoClient } from "@asgi-mmo/client/mmo-client.js";
import { applySnakeDelta, emptySnapshot } from "@asgi-mmo/client/snake-delta.js";
import { Interpolator, Predictor, bindNetcode, lerpAngle, makeLerp } from "@asgi-mmo/client/netcode.js";

interface Ship {
  id: string;
  x: number;
  y: number;
  aim: number;
}
interface Move {
  move: [number, number];
}
interface World {
  ships: Ship[];
}

const client = new MmoClient({ applyDelta: applySnakeDelta });
const predictor = new Predictor<Ship>({
  predict: (own: Ship, input: Move | null, dt: number): Ship =>
    input ? { ...own, x: own.x + input.move[0] * dt, y: own.y + input.move[1] * dt } : own,
  own: (snapshot: World, player: string | null) => snapshot.ships.find((s) => s.id === player) ?? null,
  maxPending: 64,
});
const interpolator = new Interpolator({ renderDelay: 100, lerp: makeLerp({ angles: ["aim"] }), collections: ["ships"] });
const net = bindNetcode(client, { predictor, interpolator });

const seq: number = net.sendInput({ move: [1, 0] } satisfies Move);
const seen: number | null = net.seenTick();
const picture: Record<string, any> | null = net.frame();
const own: Ship | null = predictor.sample();
const recorded: boolean = predictor.input(seq, { move: [0, 1] });
const used: boolean = predictor.reconcile({ ships: [] }, 3, 10);
predictor.advance(1 / 60);
const angle: number = lerpAngle(3, -3, 0.5);
const tick: number | null = interpolator.renderTick(performance.now());
const kept: boolean = interpolator.push(emptySnapshot(), 1);
client.connect({ url: "ws://localhost:8000/ws", name: "ada" });
net.unbind();

// @ts-expect-error: predict must return the own entity's type
new Predictor<Ship>({ predict: () => 1, own: () => null });

export { seen, picture, own, recorded, used, angle, tick, kept };

// The protocol client's options, as the pages use them.
client.connect({ url: "ws://localhost:8000/ws", name: "ada", room: "r1", game: "snake", token: "t", seq: 4 });
const rate: number | null = client.tickRate;
client.addEventListener("tick", () => applySnakeDelta(client.snapshot, { type: "tick", tick: 1, ack: 0 }));
export { rate };
