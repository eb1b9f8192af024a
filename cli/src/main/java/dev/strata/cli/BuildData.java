package dev.strata.cli;

/**
 * What the build computes for the CLI: the project version and the verbs' option index. The
 * build compiles it into the jar as the class {@value #GENERATED} (written in
 * {@code process-classes} by {@link BuildDataWriter}, then compiled by a second compiler run; see
 * {@code cli/pom.xml}).
 *
 * <p>A class rather than resources of the jar: the first resource lookup of a JVM opens the jar
 * and sets up the URL and jar-connection machinery, measured at 6-12 ms of every strata-img
 * command's start-up, while the class comes from the CDS archive like the rest of the CLI.
 */
public interface BuildData {
    /** Name of the generated implementation. */
    String GENERATED = "dev.strata.cli.GeneratedBuildData";

    /** What a build without the generation step (an IDE's) sees: no version, no index. */
    BuildData NONE = new BuildData() {
        @Override
        public String version() {
            return "unknown";
        }

        @Override
        public String verbOptionIndex() {
            return "";
        }
    };

    /** The project version. */
    String version();

    /** The verbs' option index, as {@link VerbOptionIndex#render} writes it; empty when unknown. */
    String verbOptionIndex();

    /** The build's data, or {@link #NONE} when the generated class is missing. */
    static BuildData load() {
        return Holder.DATA;
    }

    /** Loads the generated class once. */
    final class Holder {
        static final BuildData DATA = find();

        private Holder() {
        }

        private static BuildData find() {
            try {
                return (BuildData) Class.forName(GENERATED).getDeclaredConstructor().newInstance();
            } catch (ReflectiveOperationException | ClassCastException e) {
                return NONE;
            }
        }
    }
}
