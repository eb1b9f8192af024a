package dev.strata.nbd.protocol;

import java.io.ByteArrayOutputStream;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * An NBD URI (NetworkBlockDevice/nbd doc/uri.md): {@code nbd://host[:port]/export},
 * {@code nbd+unix:///export?socket=PATH}, and the TLS schemes {@code nbds}, {@code nbds+unix}.
 *
 * <p>Design note — parsed by hand rather than with {@link java.net.URI}, which follows the
 * older RFC 2396 and rejects or reinterprets legal RFC 3986 hosts. Rules applied:
 * <ul>
 *   <li>the export name is the path without its leading {@code /}, percent-decoded as UTF-8
 *       ({@code nbd://h//disk} names {@code /disk}; no path names the default export {@code ""});</li>
 *   <li>TCP: optional {@code userinfo@}, host (IPv6 literals in brackets), port defaulting to
 *       10809; an empty host means {@code localhost};</li>
 *   <li>Unix: the authority must be empty and the {@code socket} parameter is required
 *       (it may begin with NUL for the abstract namespace);</li>
 *   <li>query parameters are percent-decoded ({@code +} stays a plus); {@code tls-type},
 *       {@code tls-hostname}, {@code tls-verify-peer} and experimental {@code x-*} are kept in
 *       {@link #parameters()}; anything else, a repeated key, a fragment or {@code socket} on a
 *       TCP URI is an error.</li>
 * </ul>
 *
 * @param tls        true for {@code nbds} / {@code nbds+unix}
 * @param host       TCP host (without brackets), or {@code null} for Unix sockets
 * @param port       TCP port, or -1 for Unix sockets
 * @param socketPath Unix socket path, or {@code null} for TCP
 * @param exportName decoded export name, possibly empty
 * @param user       decoded userinfo, or {@code null}
 * @param parameters other query parameters (TLS, {@code x-*}), sorted by name, unmodifiable
 */
public record NbdUri(boolean tls, String host, int port, String socketPath, String exportName, String user,
                     Map<String, String> parameters) {

    public NbdUri {
        Objects.requireNonNull(exportName, "exportName");
        if ((host == null) == (socketPath == null)) {
            throw new IllegalArgumentException("exactly one of host and socketPath must be given");
        }
        if (host != null && (port < 1 || port > 65535)) {
            throw new IllegalArgumentException("port out of range: " + port);
        }
        parameters = Collections.unmodifiableMap(new TreeMap<>(parameters));
    }

    /** {@code nbd://host:port/export}. */
    public static NbdUri tcp(String host, int port, String exportName) {
        return new NbdUri(false, host, port, null, exportName, null, Map.of());
    }

    /** {@code nbd+unix:///export?socket=path}. */
    public static NbdUri unix(String socketPath, String exportName) {
        return new NbdUri(false, null, -1, socketPath, exportName, null, Map.of());
    }

    /** True for a Unix domain socket URI. */
    public boolean isUnix() {
        return socketPath != null;
    }

    /** {@code nbd}, {@code nbds}, {@code nbd+unix} or {@code nbds+unix}. */
    public String scheme() {
        return (tls ? "nbds" : "nbd") + (isUnix() ? "+unix" : "");
    }

    /**
     * Where to connect: an unresolved {@link InetSocketAddress} (resolved at connect time) or a
     * {@link UnixDomainSocketAddress}.
     */
    public SocketAddress socketAddress() {
        return isUnix() ? UnixDomainSocketAddress.of(socketPath) : InetSocketAddress.createUnresolved(host, port);
    }

    /**
     * Parses an NBD URI.
     *
     * @throws IllegalArgumentException with a message naming the offending part
     */
    public static NbdUri parse(String uri) {
        Objects.requireNonNull(uri, "uri");
        int colon = uri.indexOf(':');
        if (colon <= 0) {
            throw new IllegalArgumentException("not an NBD URI (no scheme): " + uri);
        }
        String scheme = uri.substring(0, colon).toLowerCase(Locale.ROOT);
        boolean tls;
        boolean unix;
        switch (scheme) {
            case "nbd" -> { tls = false; unix = false; }
            case "nbds" -> { tls = true; unix = false; }
            case "nbd+unix" -> { tls = false; unix = true; }
            case "nbds+unix" -> { tls = true; unix = true; }
            default -> throw new IllegalArgumentException("unknown NBD URI scheme '" + scheme + "' in " + uri);
        }
        String rest = uri.substring(colon + 1);
        if (rest.indexOf('#') >= 0) {
            throw new IllegalArgumentException("an NBD URI has no fragment: " + uri);
        }
        String authority = null;
        if (rest.startsWith("//")) {
            int end = indexOfAny(rest, 2, "/?");
            authority = rest.substring(2, end);
            rest = rest.substring(end);
        }
        int question = rest.indexOf('?');
        String path = question < 0 ? rest : rest.substring(0, question);
        String query = question < 0 ? "" : rest.substring(question + 1);

        String exportName = percentDecode(path.startsWith("/") ? path.substring(1) : path, "export name");
        Map<String, String> params = parseQuery(query);
        String socket = params.remove("socket");

        if (unix) {
            if (authority != null && !authority.isEmpty()) {
                throw new IllegalArgumentException("a Unix socket NBD URI has no host: " + uri);
            }
            if (socket == null || socket.isEmpty()) {
                throw new IllegalArgumentException("missing socket=PATH in " + uri);
            }
            return new NbdUri(tls, null, -1, socket, exportName, null, params);
        }
        if (socket != null) {
            throw new IllegalArgumentException("socket= is only for nbd+unix URIs: " + uri);
        }
        String user = null;
        String hostPort = authority == null ? "" : authority;
        int at = hostPort.lastIndexOf('@');
        if (at >= 0) {
            user = percentDecode(hostPort.substring(0, at), "user");
            hostPort = hostPort.substring(at + 1);
        }
        String host;
        String portText = null;
        if (hostPort.startsWith("[")) {
            int close = hostPort.indexOf(']');
            if (close < 0) {
                throw new IllegalArgumentException("unterminated IPv6 literal in " + uri);
            }
            host = hostPort.substring(1, close);
            String after = hostPort.substring(close + 1);
            if (!after.isEmpty()) {
                if (!after.startsWith(":")) {
                    throw new IllegalArgumentException("junk after IPv6 literal in " + uri);
                }
                portText = after.substring(1);
            }
        } else {
            int portColon = hostPort.lastIndexOf(':');
            host = portColon < 0 ? hostPort : hostPort.substring(0, portColon);
            portText = portColon < 0 ? null : hostPort.substring(portColon + 1);
            host = percentDecode(host, "host");
        }
        if (host.isEmpty()) {
            host = "localhost";
        }
        int port = NbdConstants.DEFAULT_PORT;
        if (portText != null && !portText.isEmpty()) {
            if (!portText.chars().allMatch(c -> c >= '0' && c <= '9') || portText.length() > 5) {
                throw new IllegalArgumentException("bad port '" + portText + "' in " + uri);
            }
            port = Integer.parseInt(portText);
            if (port < 1 || port > 65535) {
                throw new IllegalArgumentException("port out of range in " + uri);
            }
        }
        return new NbdUri(tls, host, port, null, exportName, user, params);
    }

    private static Map<String, String> parseQuery(String query) {
        Map<String, String> params = new LinkedHashMap<>();
        if (query.isEmpty()) {
            return params;
        }
        for (String pair : query.split("&", -1)) {
            if (pair.isEmpty()) {
                continue;
            }
            int eq = pair.indexOf('=');
            String key = percentDecode(eq < 0 ? pair : pair.substring(0, eq), "parameter name");
            String value = eq < 0 ? "" : percentDecode(pair.substring(eq + 1), "parameter " + key);
            boolean known = key.equals("socket") || key.equals("tls-type") || key.equals("tls-hostname")
                    || key.equals("tls-verify-peer") || key.startsWith("x-");
            if (!known) {
                throw new IllegalArgumentException("unknown NBD URI parameter '" + key + "'");
            }
            if (params.put(key, value) != null) {
                throw new IllegalArgumentException("NBD URI parameter '" + key + "' given twice");
            }
        }
        return params;
    }

    private static int indexOfAny(String s, int from, String chars) {
        for (int i = from; i < s.length(); i++) {
            if (chars.indexOf(s.charAt(i)) >= 0) {
                return i;
            }
        }
        return s.length();
    }

    /** RFC 3986 percent-decoding to UTF-8; {@code +} is not special. */
    static String percentDecode(String s, String what) {
        if (s.indexOf('%') < 0) {
            return s;
        }
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '%') {
                if (i + 2 >= s.length() || Character.digit(s.charAt(i + 1), 16) < 0
                        || Character.digit(s.charAt(i + 2), 16) < 0) {
                    throw new IllegalArgumentException("bad percent escape in " + what + ": " + s);
                }
                bytes.write(Character.digit(s.charAt(i + 1), 16) * 16 + Character.digit(s.charAt(i + 2), 16));
                i += 2;
            } else {
                byte[] encoded = String.valueOf(c).getBytes(StandardCharsets.UTF_8);
                if (Character.isHighSurrogate(c) && i + 1 < s.length()) {
                    encoded = s.substring(i, i + 2).getBytes(StandardCharsets.UTF_8);
                    i++;
                }
                bytes.write(encoded, 0, encoded.length);
            }
        }
        return new String(bytes.toByteArray(), StandardCharsets.UTF_8);
    }

    /** Percent-encodes everything outside RFC 3986 unreserved characters (and {@code /} if allowed). */
    static String percentEncode(String s, boolean keepSlash) {
        StringBuilder out = new StringBuilder(s.length());
        for (byte b : s.getBytes(StandardCharsets.UTF_8)) {
            int c = b & 0xff;
            boolean unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                    || c == '-' || c == '.' || c == '_' || c == '~' || (keepSlash && c == '/');
            if (unreserved) {
                out.append((char) c);
            } else {
                out.append('%').append(Character.toUpperCase(Character.forDigit(c >> 4, 16)))
                        .append(Character.toUpperCase(Character.forDigit(c & 15, 16)));
            }
        }
        return out.toString();
    }

    /** The canonical URI text; {@code parse(toString())} gives an equal record. */
    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder(scheme()).append("://");
        if (!isUnix()) {
            if (user != null) {
                sb.append(percentEncode(user, false)).append('@');
            }
            sb.append(host.indexOf(':') >= 0 ? "[" + host + "]" : percentEncode(host, false));
            if (port != NbdConstants.DEFAULT_PORT) {
                sb.append(':').append(port);
            }
        }
        sb.append('/').append(percentEncode(exportName, true));
        StringBuilder query = new StringBuilder();
        if (isUnix()) {
            query.append("socket=").append(percentEncode(socketPath, true));
        }
        parameters.forEach((k, v) -> {
            if (query.length() > 0) {
                query.append('&');
            }
            query.append(percentEncode(k, false)).append('=').append(percentEncode(v, false));
        });
        if (query.length() > 0) {
            sb.append('?').append(query);
        }
        return sb.toString();
    }
}
