package dev.strata.cli.output;

import dev.strata.engine.format.SnapshotInfo;
import dev.strata.engine.ops.info.ImageInfo;

import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.List;
import java.util.function.Supplier;

/**
 * {@code qemu-img info} human output: QEMU 7.2's {@code bdrv_image_info_dump}, including the
 * snapshot table of {@code bdrv_snapshot_dump} and "Format specific information:" through
 * {@link QObjectDump}. With {@code --backing-chain} images are separated by a blank line.
 */
public final class InfoText {
    /**
     * Built on first use, like the time zone callers pass lazily: setting up java.time's formatter
     * and reading the zone database cost an info without snapshots about 10 ms of start-up.
     */
    private static final class Dates {
        static final DateTimeFormatter FORMAT = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss");

        private Dates() {
        }
    }

    /** The host's time zone, read when first asked (a class, not a lambda: see StartupLambdaTest). */
    public static final Supplier<ZoneId> SYSTEM_ZONE = new Supplier<>() {
        @Override
        public ZoneId get() {
            return ZoneId.systemDefault();
        }
    };

    private InfoText() {
    }

    /**
     * The text of every image of {@code infos}, separated by blank lines; {@code zone} (asked only
     * when there are snapshots to list) gives the time zone of their dates.
     */
    public static String renderList(List<ImageInfo> infos, Supplier<ZoneId> zone) {
        StringBuilder sb = new StringBuilder();
        boolean delim = false;
        for (ImageInfo i : infos) {
            if (delim) {
                sb.append('\n');
            }
            delim = true;
            sb.append(render(i, zone));
        }
        return sb.toString();
    }

    /** The text of one image; {@code zone} as for {@link #renderList}. */
    public static String render(ImageInfo info, Supplier<ZoneId> zone) {
        StringBuilder sb = new StringBuilder();
        String disk = info.actualSize() < 0 ? "unavailable" : HumanSize.of(info.actualSize());
        sb.append("image: ").append(info.filename()).append('\n');
        sb.append("file format: ").append(info.format()).append('\n');
        sb.append("virtual size: ").append(HumanSize.of(info.virtualSize()))
                .append(" (").append(info.virtualSize()).append(" bytes)\n");
        sb.append("disk size: ").append(disk).append('\n');
        if (info.encrypted()) {
            sb.append("encrypted: yes\n");
        }
        if (info.clusterSize() != 0) {
            sb.append("cluster_size: ").append(info.clusterSize()).append('\n');
        }
        if (info.dirtyFlag()) {
            sb.append("cleanly shut down: no\n");
        }
        if (info.backingFilename() != null) {
            sb.append("backing file: ").append(info.backingFilename());
            if (info.fullBackingFilename() == null) {
                sb.append(" (cannot determine actual path)");
            } else if (!info.backingFilename().equals(info.fullBackingFilename())) {
                sb.append(" (actual path: ").append(info.fullBackingFilename()).append(')');
            }
            sb.append('\n');
            if (info.backingFormat() != null) {
                sb.append("backing file format: ").append(info.backingFormat()).append('\n');
            }
        }
        if (!info.snapshots().isEmpty()) {
            sb.append("Snapshot list:\n");
            sb.append(snapshotHeader()).append('\n');
            ZoneId z = zone.get();
            for (SnapshotInfo s : info.snapshots()) {
                sb.append(snapshotRow(s, z)).append('\n');
            }
        }
        if (info.formatSpecific() != null) {
            sb.append("Format specific information:\n");
            sb.append(QObjectDump.dump(1, info.formatSpecific()));
        }
        return sb.toString();
    }

    /** bdrv_snapshot_dump(NULL): the column titles, without a newline. */
    public static String snapshotHeader() {
        return String.format("%-10s%-17s%8s%20s%13s%11s", "ID", "TAG", "VM SIZE", "DATE", "VM CLOCK", "ICOUNT");
    }

    /** bdrv_snapshot_dump(sn): one row, without a newline. */
    public static String snapshotRow(SnapshotInfo s, ZoneId zone) {
        String date = Dates.FORMAT.format(Instant.ofEpochSecond(s.dateSec()).atZone(zone));
        long clock = s.vmClockNsec();
        long secs = clock / 1_000_000_000L;
        String clockText = String.format("%02d:%02d:%02d.%03d", (int) (secs / 3600), (int) ((secs / 60) % 60),
                (int) (secs % 60), (int) ((clock / 1_000_000L) % 1000));
        String icount = s.icount() == -1 ? "" : Long.toString(s.icount());
        return String.format("%-9s %-16s %8s%20s%13s%11s", s.id(), s.name(), HumanSize.of(s.vmStateSize()),
                date, clockText, icount);
    }
}
