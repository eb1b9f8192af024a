package dev.strata.cli.nbd;

import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;
import dev.strata.nbd.protocol.NbdUri;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * An NBD image name as QEMU 7.2's nbd block driver reads it (block/nbd.c nbd_parse_uri), and
 * the filename it prints for it (nbd_refresh_filename).
 *
 * <p>Design note: deliberately not {@link NbdUri#parse}, which follows the NBD URI spec; qemu
 * is stricter in places (a TCP URL needs a host, a Unix URL exactly one query parameter,
 * {@code socket}) and laxer in others (the {@code nbd+tcp} scheme, any userinfo ignored), and
 * every deviation is answered with "No valid URL specified". The printed filename is qemu's:
 * {@code nbd://HOST:PORT/EXPORT} (port always shown, export decoded), or
 * {@code nbd+unix:///EXPORT?socket=PATH}; without an export the "/EXPORT" part is left out.
 *
 * @param host       TCP host without IPv6 brackets, or null for a Unix socket
 * @param port       TCP port (10809 when not given), or -1
 * @param socketPath Unix socket path, or null for TCP
 * @param export     decoded export name, or null for the default export
 */
public record NbdUrl(String host, int port, String socketPath, String export) {
    private static final int DEFAULT_PORT = 10809;

    /** Whether qemu would hand {@code name} to its nbd driver (protocol nbd, nbd+tcp or nbd+unix). */
    public static boolean isNbdName(String name) {
        return name.startsWith("nbd:") || name.startsWith("nbd+tcp:") || name.startsWith("nbd+unix:");
    }

    /**
     * Parses an NBD URL by qemu's rules.
     *
     * @throws StrataException EINVAL "No valid URL specified" (qemu's words) when qemu refuses it
     */
    public static NbdUrl parse(String name) {
        int colon = name.indexOf(':');
        String scheme = colon < 0 ? "" : name.substring(0, colon);
        String rest = name.substring(colon + 1);
        if (!rest.startsWith("//")) {
            // qemu's legacy "nbd:host:port[:exportname=NAME]" syntax is not supported yet
            throw invalid();
        }
        boolean unix;
        switch (scheme) {
            case "nbd":
            case "nbd+tcp":
                unix = false;
                break;
            case "nbd+unix":
                unix = true;
                break;
            default:
                throw invalid();
        }
        int hash = rest.indexOf('#');
        if (hash >= 0) {
            rest = rest.substring(0, hash);
        }
        rest = rest.substring(2);
        int end = firstOf(rest, "/?");
        String authority = rest.substring(0, end);
        rest = rest.substring(end);
        int question = rest.indexOf('?');
        String path = question < 0 ? rest : rest.substring(0, question);
        String query = question < 0 ? null : rest.substring(question + 1);
        String export = decode(path.startsWith("/") ? path.substring(1) : path);
        if (export.isEmpty()) {
            export = null;
        }
        int at = authority.lastIndexOf('@');
        String hostPort = at < 0 ? authority : authority.substring(at + 1);
        String host = hostPort;
        String portText = "";
        int close = hostPort.lastIndexOf(']');
        int portColon = hostPort.lastIndexOf(':');
        if (portColon > close) {
            host = hostPort.substring(0, portColon);
            portText = hostPort.substring(portColon + 1);
        }
        if (!portText.chars().allMatch(c -> c >= '0' && c <= '9') || portText.length() > 9) {
            throw invalid();
        }
        int port = portText.isEmpty() ? 0 : Integer.parseInt(portText);
        String[] params = query == null || query.isEmpty() ? new String[0] : query.split("[&;]", -1);
        if (params.length > 1 || (unix && params.length == 0) || (!unix && params.length > 0)) {
            throw invalid();
        }
        if (unix) {
            String p = params[0];
            int eq = p.indexOf('=');
            if (!host.isEmpty() || port != 0 || eq < 0 || !decode(p.substring(0, eq)).equals("socket")) {
                throw invalid();
            }
            return new NbdUrl(null, -1, decode(p.substring(eq + 1)), export);
        }
        if (host.isEmpty()) {
            throw invalid();
        }
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        }
        if (port > 65535) {
            throw invalid();
        }
        return new NbdUrl(decode(host), port == 0 ? DEFAULT_PORT : port, null, export);
    }

    /** True for a Unix domain socket. */
    public boolean isUnix() {
        return socketPath != null;
    }

    /** The filename qemu prints for this export (nbd_refresh_filename). */
    public String filename() {
        if (isUnix()) {
            return export != null ? "nbd+unix:///" + export + "?socket=" + socketPath : "nbd+unix://?socket=" + socketPath;
        }
        return "nbd://" + host + ":" + port + (export != null ? "/" + export : "");
    }

    /** Where qemu says it failed to connect: "HOST:PORT" or the socket path. */
    public String peer() {
        return isUnix() ? socketPath : host + ":" + port;
    }

    /** The export name to negotiate ("" for the default export). */
    public String exportName() {
        return export == null ? "" : export;
    }

    /** This address as an {@link NbdUri} for the client. */
    public NbdUri toUri() {
        return isUnix() ? NbdUri.unix(socketPath, exportName()) : NbdUri.tcp(host, port, exportName());
    }

    private static StrataException invalid() {
        return new StrataException(ErrorKind.EINVAL, "No valid URL specified");
    }

    private static int firstOf(String s, String chars) {
        for (int i = 0; i < s.length(); i++) {
            if (chars.indexOf(s.charAt(i)) >= 0) {
                return i;
            }
        }
        return s.length();
    }

    /** Percent-decoding as qemu's URI parser does it (malformed escapes stay as they are). */
    private static String decode(String s) {
        if (s.indexOf('%') < 0) {
            return s;
        }
        byte[] in = s.getBytes(StandardCharsets.UTF_8);
        ByteArrayOutputStream out = new ByteArrayOutputStream(in.length);
        for (int i = 0; i < in.length; i++) {
            if (in[i] == '%' && i + 2 < in.length && hex(in[i + 1]) >= 0 && hex(in[i + 2]) >= 0) {
                out.write(hex(in[i + 1]) * 16 + hex(in[i + 2]));
                i += 2;
            } else {
                out.write(in[i]);
            }
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    private static int hex(byte b) {
        return Character.digit((char) b, 16);
    }
}
