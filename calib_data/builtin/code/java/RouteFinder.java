package transit.routing;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.PriorityQueue;

/**
 * Shortest-path search over a weighted, undirected rail network.
 *
 * <p>Edge weights are travel times in minutes. A fixed transfer penalty is
 * added whenever the line changes, so the result prefers fewer transfers
 * when two routes take roughly the same time.</p>
 */
public class RouteFinder {

    /** A connection between two adjacent stations on one line. */
    public record Edge(String to, String line, int minutes) {}

    /** The result of a search. */
    public record Route(List<String> stations, int totalMinutes, int transfers) {}

    /** Search state: we are at a station, having arrived on a given line. */
    private record State(String station, String line) {}

    private record Entry(State state, int cost) {}

    private final Map<String, List<Edge>> adjacency = new HashMap<>();
    private final int transferPenalty;

    public RouteFinder(int transferPenalty) {
        if (transferPenalty < 0) {
            throw new IllegalArgumentException("transfer penalty must be non-negative");
        }
        this.transferPenalty = transferPenalty;
    }

    /** Register a bidirectional segment. */
    public RouteFinder connect(String a, String b, String line, int minutes) {
        adjacency.computeIfAbsent(a, k -> new ArrayList<>()).add(new Edge(b, line, minutes));
        adjacency.computeIfAbsent(b, k -> new ArrayList<>()).add(new Edge(a, line, minutes));
        return this;
    }

    /**
     * Find the cheapest route using Dijkstra's algorithm on (station, line) states.
     *
     * @return the route, or empty if the destination is unreachable
     */
    public Optional<Route> find(String from, String to) {
        if (!adjacency.containsKey(from) || !adjacency.containsKey(to)) {
            return Optional.empty();
        }
        Map<State, Integer> best = new HashMap<>();
        Map<State, State> previous = new HashMap<>();
        PriorityQueue<Entry> queue = new PriorityQueue<>((x, y) -> Integer.compare(x.cost(), y.cost()));

        State start = new State(from, null);
        best.put(start, 0);
        queue.add(new Entry(start, 0));

        while (!queue.isEmpty()) {
            Entry current = queue.poll();
            State s = current.state();
            if (current.cost() > best.getOrDefault(s, Integer.MAX_VALUE)) {
                continue; // stale queue entry
            }
            if (s.station().equals(to)) {
                return Optional.of(buildRoute(s, previous, current.cost()));
            }
            for (Edge e : adjacency.get(s.station())) {
                boolean transfer = s.line() != null && !s.line().equals(e.line());
                int cost = current.cost() + e.minutes() + (transfer ? transferPenalty : 0);
                State next = new State(e.to(), e.line());
                if (cost < best.getOrDefault(next, Integer.MAX_VALUE)) {
                    best.put(next, cost);
                    previous.put(next, s);
                    queue.add(new Entry(next, cost));
                }
            }
        }
        return Optional.empty();
    }

    private Route buildRoute(State end, Map<State, State> previous, int cost) {
        Deque<String> path = new ArrayDeque<>();
        int transfers = 0;
        State cur = end;
        while (cur != null) {
            path.addFirst(cur.station());
            State prev = previous.get(cur);
            if (prev != null && prev.line() != null && !prev.line().equals(cur.line())) {
                transfers++;
            }
            cur = prev;
        }
        // Report pure travel time, without the artificial penalty.
        int minutes = cost - transfers * transferPenalty;
        return new Route(List.copyOf(path), minutes, transfers);
    }

    public static void main(String[] args) {
        RouteFinder finder = new RouteFinder(5)
                .connect("Harbor", "Central", "Blue", 6)
                .connect("Central", "Museum", "Blue", 4)
                .connect("Museum", "Airport", "Blue", 12)
                .connect("Central", "Park", "Green", 3)
                .connect("Park", "Airport", "Green", 11)
                .connect("Harbor", "Market", "Red", 5)
                .connect("Market", "Airport", "Red", 19);

        finder.find("Harbor", "Airport").ifPresentOrElse(
                r -> System.out.printf("%s (%d min, %d transfer(s))%n",
                        String.join(" -> ", r.stations()), r.totalMinutes(), r.transfers()),
                () -> System.out.println("no route"));
    }
}
