import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.CreateTopicsResult;
import org.apache.kafka.clients.admin.DescribeClusterOptions;
import org.apache.kafka.clients.admin.ListTopicsOptions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.errors.InvalidReplicationFactorException;
import org.apache.kafka.common.errors.RetriableException;
import org.apache.kafka.common.errors.TimeoutException;
import org.apache.kafka.common.errors.TopicExistsException;

/**
 * Small admin helper for the dev broker, run by tools/kafka/kafka.sh so that waiting for the
 * broker and creating every topic cost one JVM start each (TopicCommand costs one per topic).
 *
 * <pre>
 * TodoKafkaAdmin wait          BOOTSTRAP TIMEOUT_S [PID]
 * TodoKafkaAdmin create-topics BOOTSTRAP TOPICS_FILE TIMEOUT_S
 * </pre>
 *
 * Exit codes: 0 ok, 1 timed out or failed, 2 usage error. Messages go to stderr, prefixed
 * "kafka:"; {@code create-topics} prints one summary line to stdout.
 */
public final class TodoKafkaAdmin {
    private TodoKafkaAdmin() {}

    /** Entry point; see the class comment for the commands. */
    public static void main(String[] args) throws Exception {
        if (args.length >= 3 && args[0].equals("wait")) {
            long pid = args.length >= 4 && !args[3].isEmpty() ? Long.parseLong(args[3]) : -1;
            System.exit(waitReady(args[1], deadline(args[2]), pid));
        } else if (args.length == 4 && args[0].equals("create-topics")) {
            System.exit(createTopics(args[1], Path.of(args[2]), deadline(args[3])));
        }
        System.err.println("usage: TodoKafkaAdmin wait BOOTSTRAP TIMEOUT_S [PID]"
                + " | create-topics BOOTSTRAP TOPICS_FILE TIMEOUT_S");
        System.exit(2);
    }

    private static long deadline(String seconds) {
        return System.nanoTime() + TimeUnit.SECONDS.toNanos(Long.parseLong(seconds));
    }

    private static long msLeft(long deadline) {
        return Math.max(0, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime()));
    }

    private static Admin admin(String bootstrap) {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(AdminClientConfig.CLIENT_ID_CONFIG, "todo-kafka-admin");
        // Short per-request timeouts: each call is retried by the loops below until the deadline.
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "2000");
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "3000");
        p.put(AdminClientConfig.RECONNECT_BACKOFF_MS_CONFIG, "100");
        p.put(AdminClientConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, "250");
        p.put(AdminClientConfig.RETRY_BACKOFF_MS_CONFIG, "100");
        p.put(AdminClientConfig.RETRY_BACKOFF_MAX_MS_CONFIG, "250");
        return Admin.create(p);
    }

    /**
     * Waits until the broker serves metadata and lists itself as an alive (unfenced) broker,
     * which is when it accepts topic creation and produce requests.
     */
    static int waitReady(String bootstrap, long deadline, long pid) throws InterruptedException {
        String last = "no answer from " + bootstrap + " (is the broker running?)";
        try (Admin admin = admin(bootstrap)) {
            while (msLeft(deadline) > 0) {
                if (pid > 0 && !ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)) {
                    System.err.println("kafka: broker process " + pid + " exited before it was ready");
                    return 1;
                }
                try {
                    int t = (int) Math.max(1, Math.min(3000, msLeft(deadline)));
                    Collection<Node> nodes = admin.describeCluster(new DescribeClusterOptions().timeoutMs(t))
                            .nodes().get();
                    if (!nodes.isEmpty()) {
                        admin.listTopics(new ListTopicsOptions().timeoutMs(t)).names().get();
                        return 0;
                    }
                    last = "broker answers but lists no alive broker yet (still fenced)";
                } catch (ExecutionException e) {
                    // A TimeoutException here only means "no answer yet": keep the clearer default.
                    if (!(e.getCause() instanceof TimeoutException)) {
                        last = e.getCause().toString();
                    }
                }
                Thread.sleep(Math.min(200, msLeft(deadline)));
            }
        }
        System.err.println("kafka: broker at " + bootstrap + " not ready before the timeout; last: " + last);
        return 1;
    }

    /** Reads "name partitions" lines; blank lines and lines starting with '#' are skipped. */
    static Map<String, Integer> readTopics(Path file) throws Exception {
        Map<String, Integer> topics = new LinkedHashMap<>();
        for (String raw : Files.readAllLines(file)) {
            String line = raw.strip();
            if (line.isEmpty() || line.startsWith("#")) continue;
            String[] f = line.split("\\s+");
            if (f.length != 2) throw new IllegalArgumentException(file + ": bad line: " + raw);
            topics.put(f[0], Integer.parseInt(f[1]));
        }
        return topics;
    }

    /**
     * Creates each missing topic (replication factor 1) and leaves existing ones alone, retrying
     * retriable errors until the deadline. Warns when an existing topic has another partition count.
     */
    static int createTopics(String bootstrap, Path file, long deadline) throws Exception {
        Map<String, Integer> wanted = readTopics(file);
        List<String> created = new ArrayList<>();
        List<String> existing = new ArrayList<>();
        String last = "";
        try (Admin admin = admin(bootstrap)) {
            while (msLeft(deadline) > 0) {
                try {
                    int t = (int) Math.max(1, Math.min(5000, msLeft(deadline)));
                    Set<String> have = admin.listTopics(new ListTopicsOptions().timeoutMs(t)).names().get();
                    List<NewTopic> missing = new ArrayList<>();
                    for (Map.Entry<String, Integer> e : wanted.entrySet()) {
                        if (have.contains(e.getKey())) {
                            if (!created.contains(e.getKey()) && !existing.contains(e.getKey())) existing.add(e.getKey());
                        } else {
                            missing.add(new NewTopic(e.getKey(), e.getValue(), (short) 1));
                        }
                    }
                    if (missing.isEmpty()) {
                        checkPartitions(admin, wanted, existing, t);
                        System.out.println("kafka: topics ready: " + wanted.size() + " (created "
                                + created.size() + ", already there " + existing.size() + ")");
                        return 0;
                    }
                    CreateTopicsResult res = admin.createTopics(missing);
                    for (Map.Entry<String, KafkaFuture<Void>> f : res.values().entrySet()) {
                        try {
                            f.getValue().get();
                            created.add(f.getKey());
                        } catch (ExecutionException e) {
                            if (e.getCause() instanceof TopicExistsException) {
                                existing.add(f.getKey());
                            } else if (e.getCause() instanceof RetriableException
                                    // A broker not yet unfenced: "only 0 broker(s) are registered".
                                    || e.getCause() instanceof InvalidReplicationFactorException) {
                                last = f.getKey() + ": " + e.getCause();
                            } else {
                                System.err.println("kafka: cannot create topic " + f.getKey() + ": " + e.getCause());
                                return 1;
                            }
                        }
                    }
                } catch (ExecutionException e) {
                    last = e.getCause().toString();
                }
                Thread.sleep(Math.min(200, msLeft(deadline)));
            }
        }
        System.err.println("kafka: topics not all created before the timeout; last error: " + last);
        return 1;
    }

    private static void checkPartitions(Admin admin, Map<String, Integer> wanted, List<String> existing, int timeoutMs)
            throws Exception {
        if (existing.isEmpty()) return;
        Map<String, TopicDescription> d = admin.describeTopics(existing).allTopicNames().get(timeoutMs, TimeUnit.MILLISECONDS);
        for (TopicDescription td : d.values()) {
            int want = wanted.get(td.name());
            if (td.partitions().size() != want) {
                System.err.println("kafka: warning: topic " + td.name() + " has " + td.partitions().size()
                        + " partitions, topics.txt says " + want + " (left as is)");
            }
        }
    }
}
