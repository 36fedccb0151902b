package changelake.services;

import java.io.IOException;

import org.codelibs.opensearch.runner.OpenSearchRunner;

/**
 * One OpenSearch node on 127.0.0.1 with the HTTP and transport ports given by the caller.
 *
 * <p>Usage: {@code LocalNode BASE_DIR HTTP_PORT TRANSPORT_PORT}. The runner's own main picks the
 * first free port above a base (and only up to 9299), which races when several test sessions start
 * at once; here the caller picks free ports and the node binds exactly those. There is no security
 * plugin on the classpath, so the node speaks plain HTTP without authentication. SIGTERM closes it.
 */
public final class LocalNode {

    private LocalNode() {
    }

    public static void main(final String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: LocalNode BASE_DIR HTTP_PORT TRANSPORT_PORT");
            System.exit(2);
        }
        final OpenSearchRunner runner = new OpenSearchRunner();
        runner.onBuild((number, settings) -> settings
                .put("network.host", "127.0.0.1")
                .put("http.port", args[1])
                .put("transport.port", args[2])
                .put("discovery.type", "single-node")
                // A nearly full disk must not turn test indices read-only.
                .put("cluster.routing.allocation.disk.threshold_enabled", false));
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                runner.close();
            } catch (final IOException e) {
                System.err.println("closing the node failed: " + e.getMessage());
            }
        }));
        runner.build("-basePath", args[0], "-numOfNode", "1", "-clusterName", "changelake");
        System.out.println("OpenSearch node ready on http://127.0.0.1:" + args[1]);
        while (!runner.isClosed()) {
            Thread.sleep(1000);
        }
    }
}
